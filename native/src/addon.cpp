// N-API entry point: each kernel family registers its own functions.
#include <napi.h>
#include "registry.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  RegisterCpu(env, exports);
  RegisterGemm(env, exports);
  RegisterKernels(env, exports);
  RegisterNf4(env, exports);
  return exports;
}

NODE_API_MODULE(sftkit, Init)
