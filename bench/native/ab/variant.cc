// One side of the A/B beam-step comparison (bench/native/ab/run.sh). Compiled twice: once against
// the work tree as ab_new, once against an older commit's core with `-Dsemid=semid_old` as ab_old,
// so that both cores link into one process side by side.
#include "semid/beam.h"

extern "C" void AB_VARIANT(const void* trie, const void* args, int threads) {
  semid::beam_step_cpu(*static_cast<const semid::TrieView*>(trie), *static_cast<const semid::BeamStepArgs*>(args),
                       threads, semid::CancelFlag{});
}
