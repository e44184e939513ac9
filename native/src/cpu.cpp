// CPU feature detection and ISA selection (placeholder; owned by the GEMM work).
#include "registry.h"
void RegisterCpu(Napi::Env env, Napi::Object exports) {}
