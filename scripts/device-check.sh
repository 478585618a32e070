#!/usr/bin/env bash
# The GPU check, for a machine with nvcc + CMake (+ PyTorch for the peers) and no Node:
# builds the native core for the local GPU, runs the CUDA-vs-CPU parity binary, the native
# benchmarks (gemm / nearest / RQ-KMeans, truncated SVD, beam step) and the PyTorch peers on the
# same data. SEMID_DEVICE_ONLY=svd, beam or rq runs one family; SEMID_PARITY_CUDA_ONLY=1 skips the
# CPU-only parity cases. Output goes to stdout (and $OUT).
set -uo pipefail
arch=${SEMID_CUDA_ARCH:-90}
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
lscpu | grep -E 'Model name|^CPU\(s\)' || true
# SEMID_DEVICE_BIN: a folder with semid_parity and semid_bench_native already built for this
# card (e.g. on a machine with nvcc but no GPU, carried here), so no build runs on the device.
bin=${SEMID_DEVICE_BIN:-build-device}
if [ -z "${SEMID_DEVICE_BIN:-}" ]; then
  cmake -S . -B build-device -DSEMID_ADDON=OFF -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
  cmake --build build-device -j 16 >>"$out/cmake.log" 2>&1 || { tail -40 "$out/cmake.log"; exit 1; }
fi
echo "== parity"
"$bin"/semid_parity | tee "$out/parity.txt" | grep -v '^OK' ; parity=${PIPESTATUS[0]}
grep -E '^OK   cuda/svd' "$out/parity.txt"
mkdir -p /tmp/semid-bench
if [ "${SEMID_DEVICE_ONLY:-}" = svd ]; then
  echo "== native svd bench"
  SEMID_BENCH_SVD_ONLY=1 SEMID_BENCH_SVD_PHASES=1 SEMID_BENCH_NPY_DIR=/tmp/semid-bench SEMID_THREADS=${SEMID_THREADS:-16} "$bin"/semid_bench_native | tee "$out/bench_svd.txt"
  echo "== torch svd peer"
  python3 bench/peers/torch_svd.py /tmp/semid-bench/svd-640.npy | tee -a "$out/bench_svd.txt"
  exit $parity
fi
if [ "${SEMID_DEVICE_ONLY:-}" = rq ]; then
  # Nearest and RQ-KMeans on the card only (no CPU timings), with the A/B rows (the any-transpose
  # tile, the driver's pageable copy) and the phase log; then the PyTorch peers on the same data.
  echo "== native nearest + rq bench (CUDA only)"
  SEMID_BENCH_CUDA_ONLY=1 SEMID_BENCH_RQ_VARIANTS=1 SEMID_BENCH_RQ_PHASES=1 SEMID_BENCH_NPY_DIR=/tmp/semid-bench \
    SEMID_THREADS=${SEMID_THREADS:-16} "$bin"/semid_bench_native 1 2>"$out/rq_phases.txt" | tee "$out/bench_rq.txt"
  echo "== torch peers"
  python3 bench/peers/torch_nearest.py | tee -a "$out/bench_rq.txt"
  python3 bench/peers/torch_rq.py /tmp/semid-bench/rq-384.npy /tmp/semid-bench/rq-768.npy | tee -a "$out/bench_rq.txt"
  grep -E "total|iteration 0 " "$out/rq_phases.txt"
  exit $parity
fi
if [ "${SEMID_DEVICE_ONLY:-}" = beam ]; then
  echo "== native beam bench"
  SEMID_BENCH_BEAM_ONLY=1 SEMID_THREADS=${SEMID_THREADS:-16} "$bin"/semid_bench_native 2>"$out/beam_debug.txt" | tee "$out/bench_beam.txt"
  [ -n "${SEMID_DEBUG_BEAM:-}" ] && awk "NR % 40 == 0" "$out/beam_debug.txt" | head -24
  echo "== torch beam peer"
  python3 bench/peers/torch_beam.py | tee -a "$out/bench_beam.txt"
  exit $parity
fi
echo "== native bench"
mkdir -p /tmp/semid-bench
SEMID_BENCH_NPY_DIR=/tmp/semid-bench SEMID_THREADS=${SEMID_THREADS:-16} "$bin"/semid_bench_native 3 | tee "$out/bench_native.txt"
echo "== torch peer"
python3 bench/peers/torch_nearest.py | tee "$out/bench_torch.txt"
python3 bench/peers/torch_rq.py /tmp/semid-bench/rq-384.npy /tmp/semid-bench/rq-768.npy | tee -a "$out/bench_torch.txt"
python3 bench/peers/torch_beam.py | tee -a "$out/bench_torch.txt"
echo "== native svd bench"
SEMID_BENCH_SVD_ONLY=1 SEMID_BENCH_NPY_DIR=/tmp/semid-bench SEMID_THREADS=${SEMID_THREADS:-16} "$bin"/semid_bench_native | tee "$out/bench_svd.txt"
python3 bench/peers/torch_svd.py /tmp/semid-bench/svd-640.npy | tee -a "$out/bench_svd.txt"
exit $parity
