// SEMID_CLONES: GCC builds an AVX2 clone of a hot function next to the default one and picks it
// at load time (ifunc) on any CPU that has AVX2, so plain loops vectorise 4-wide without a
// -march flag. (Not "arch=haswell": that clone is chosen only on CPUs GCC identifies as Haswell,
// so AMD and newer Intel parts ran the default one.) The clones give the same bits: no FMA
// contraction (-ffp-contract=off), and reductions keep their written order.
// Elsewhere (clang, non-x86, non-Linux) it expands to nothing.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define SEMID_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define SEMID_CLONES
#endif
