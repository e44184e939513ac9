// GEMM (placeholder; owned by the GEMM work).
#include "registry.h"
void RegisterGemm(Napi::Env env, Napi::Object exports) {}
