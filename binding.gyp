{
  "variables": {
    "semid_openblas%": "<!(node scripts/find-openblas.cjs)"
  },
  "targets": [
    {
      "target_name": "semid",
      "sources": [
        "native/addon/addon.cc",
        "native/addon/info.cc",
        "native/addon/kernels.cc",
        "native/addon/rq.cc",
        "native/addon/beam.cc",
        "native/addon/svd.cc",
        "native/addon/optim.cc",
        "native/addon/attention.cc",
        "native/cpu/parallel.cc",
        "native/cpu/cpu_features.cc",
        "native/cpu/gemm_pack.cc",
        "native/cpu/gemm_kernel_scalar.cc",
        "native/cpu/gemm_kernel_avx2.cc",
        "native/cpu/gemm_kernel_avx512.cc",
        "native/cpu/gemm.cc",
        "native/cpu/syrk.cc",
        "native/cpu/nearest.cc",
        "native/cpu/nearest_exact.cc",
        "native/cpu/finite.cc",
        "native/cpu/kmeans.cc",
        "native/cpu/distance.cc",
        "native/cpu/kmeans_backend_cpu.cc",
        "native/cpu/rq.cc",
        "native/cpu/logsumexp.cc",
        "native/cpu/beam_step.cc",
        "native/cpu/beam_rank.cc",
        "native/cpu/beam_finished.cc",
        "native/cpu/trie_dense_rows.cc",
        "native/cpu/symeig.cc",
        "native/cpu/cholesky.cc",
        "native/cpu/svd.cc",
        "native/cpu/optim.cc",
        "native/cpu/fused.cc",
        "native/cpu/attention.cc",
        "native/cpu/cuda_stub.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native/include"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-ffp-contract=off"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } },
      "conditions": [
        ["semid_openblas==1", {
          "defines": ["SEMID_WITH_OPENBLAS"],
          "libraries": ["-lopenblas"]
        }]
      ]
    }
  ]
}
