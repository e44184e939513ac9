{
  "targets": [
    {
      "target_name": "sftkit",
      "sources": [
        "native/src/addon.cpp",
        "native/src/cpu.cpp",
        "native/src/threadpool.cpp",
        "native/src/gemm.cpp",
        "native/src/kernels.cpp",
        "native/src/kernels_isa.cpp",
        "native/src/nf4.cpp"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native/src"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2"],
      "cflags_cc": ["-std=c++17", "-O3", "-fno-math-errno", "-fPIC", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='linux'", { "libraries": ["-lpthread"] }]
      ]
    }
  ]
}
