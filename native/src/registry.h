// Each kernel family exposes one registration function, called from addon.cpp.
#pragma once
#include <napi.h>

void RegisterCpu(Napi::Env env, Napi::Object exports);      // cpu.cpp: isa(), setIsa(), threads(), setThreads()
void RegisterGemm(Napi::Env env, Napi::Object exports);     // gemm.cpp: gemm()
void RegisterKernels(Napi::Env env, Napi::Object exports);  // kernels.cpp: fused kernels (norm, rope, attention, ...)
void RegisterNf4(Napi::Env env, Napi::Object exports);      // nf4.cpp: nf4Gemm() (fused 4-bit dequantize + GEMM)
