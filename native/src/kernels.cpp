// Fused kernels (placeholder; owned by the kernels work).
#include "registry.h"
void RegisterKernels(Napi::Env env, Napi::Object exports) {}
