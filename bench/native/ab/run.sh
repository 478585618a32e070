#!/bin/bash
# A/B of the CPU beam step against an older commit, in one process (see ab_beam.cc).
#   bash bench/native/ab/run.sh [REF=HEAD] [ab_beam args: threads batch reps logits levels]
# Builds REF's CPU core with its symbols renamed (-Dsemid=semid_old) and the work tree's core, links
# both with the driver into $AB_DIR/ab_beam (default /tmp/semid-ab) and runs it. Run it 3-5 times:
# one run's per-rep ratio moves by +-3% here (an A/A run, REF = the work tree's commit, shows it).
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
ref=${1:-HEAD}
shift || true
dir=${AB_DIR:-/tmp/semid-ab}
flags="-O3 -DNDEBUG -fPIC -fno-math-errno -ffp-contract=off -std=gnu++17"
mkdir -p "$dir"
sources=$(sed -n '/set(SEMID_CPU_SOURCES/,/)/p' "$root/CMakeLists.txt" | grep -o 'native/cpu/[a-z_0-9]*\.cc')
build_core() {  # $1: source root, $2: object folder, $3: extra flags
  mkdir -p "$2"
  rm -f "$2"/*.o
  for s in $sources native/cpu/cuda_stub.cc; do echo "$s"; done |
    xargs -P "$(nproc)" -I{} sh -c "g++ $flags $3 -I$1/native/include -c $1/{} -o $2/\$(basename {} .cc).o"
  ar rcs "$2/core.a" "$2"/*.o
}
commit=$(git -C "$root" rev-parse "$ref")
if [ "$(cat "$dir/old_commit" 2>/dev/null)" != "$commit" ]; then
  rm -rf "$dir/old_src"
  mkdir -p "$dir/old_src"
  git -C "$root" archive "$commit" native | tar -x -C "$dir/old_src"
  build_core "$dir/old_src" "$dir/old" "-Dsemid=semid_old"
  echo "$commit" > "$dir/old_commit"
fi
build_core "$root" "$dir/new" ""
g++ $flags -Dsemid=semid_old -DAB_VARIANT=ab_old -I"$dir/old_src/native/include" -c "$root/bench/native/ab/variant.cc" -o "$dir/ab_old.o"
g++ $flags -DAB_VARIANT=ab_new -I"$root/native/include" -c "$root/bench/native/ab/variant.cc" -o "$dir/ab_new.o"
g++ $flags -I"$root/native/include" "$root/bench/native/ab/ab_beam.cc" "$dir/ab_old.o" "$dir/ab_new.o" "$dir/old/core.a" \
  "$dir/new/core.a" -lpthread -o "$dir/ab_beam"
"$dir/ab_beam" "$@"
