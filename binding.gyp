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
        ["OS=='linux'", { "libraries": ["-lpthread"] }],
        ["OS=='mac'", {
          "defines": ["SFTKIT_ACCELERATE=1"],
          "libraries": ["-framework Accelerate"],
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "CLANG_CXX_LIBRARY": "libc++",
            "MACOSX_DEPLOYMENT_TARGET": "11.0",
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "GCC_OPTIMIZATION_LEVEL": "3",
            "OTHER_CPLUSPLUSFLAGS": ["-fno-math-errno", "-Wall", "-Wextra", "-Wno-unused-parameter"]
          }
        }],
        ["OS=='win'", {
          "defines": ["NOMINMAX", "_USE_MATH_DEFINES"],
          "msvs_settings": {
            "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17", "/O2", "/EHsc"], "ExceptionHandling": 1 }
          }
        }]
      ]
    }
  ]
}
