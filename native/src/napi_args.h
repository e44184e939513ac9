// The one N-API argument reader of the addon (kernels.cpp, gemm.cpp, nf4.cpp, cpu.cpp): every binding reads its
// arguments (positional or fields of an args object) through it, so types and lengths are checked the same way
// everywhere and no kernel can read or write outside its arrays.
//
// The first problem becomes a pending JS exception, "<fn>: <message>", a TypeError for a wrong type and a
// RangeError for a bad value; later reads are no-ops returning empty values, so a binding reads everything and
// then checks failed() once before running its kernel.
#pragma once
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace sftkit {
namespace napi {

constexpr double kMaxSafe = 9007199254740992.0;  // 2^53: integers a JS number holds exactly
// Matrix extents (gemm, nf4Gemm): 2^40 keeps every index product in 64 bits (extent checks use 128).
constexpr double kMaxExtent = 1099511627776.0;

// A typed array's data and length; present is false for null/undefined where those are allowed.
template <class E>
struct View {
  E* data = nullptr;
  int64_t len = 0;
  bool present = false;
};
using F32 = View<float>;
using I32 = View<int32_t>;
using U8 = View<uint8_t>;
using U16 = View<uint16_t>;

// A matrix operand: a Float32Array or a Uint16Array of bf16 bits.
struct MatView {
  const void* data = nullptr;
  bool bf16 = false;
  int64_t len = 0;
  int64_t bytes() const { return len * (bf16 ? 2 : 4); }
};

// Whether two buffers share memory.
inline bool overlap(const void* a, int64_t a_bytes, const void* b, int64_t b_bytes) {
  const char* a0 = static_cast<const char*>(a);
  const char* b0 = static_cast<const char*>(b);
  return a_bytes > 0 && b_bytes > 0 && a0 < b0 + b_bytes && b0 < a0 + a_bytes;
}

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : env_(info.Env()), info_(info), fn_(fn) {}
  bool failed() const { return failed_; }
  Napi::Env env() const { return env_; }
  // Positional argument i (undefined past the end).
  Napi::Value at(size_t i) const { return info_[i]; }

  void type_error(const std::string& msg) { fail(false, msg); }
  void range_error(const std::string& msg) { fail(true, msg); }
  void require(bool ok, const std::string& msg) {
    if (!ok) range_error(msg);
  }

  // Positional argument i as an object (e.g. gemm's GemmArgs); what names it in the error.
  Napi::Object object(size_t i, const char* what) { return object_of(at(i), what); }
  Napi::Object object_of(Napi::Value v, const char* what) {
    if (failed_) return Napi::Object::New(env_);
    if (!v.IsObject()) {
      type_error(std::string(what) + " must be an object");
      return Napi::Object::New(env_);
    }
    return v.As<Napi::Object>();
  }
  // A field of an args object; nothing is read once a read has failed (a getter may throw).
  Napi::Value field(const Napi::Object& o, const char* name) {
    if (failed_) return env_.Undefined();
    Napi::Value v = o.Get(name);
    if (env_.IsExceptionPending()) failed_ = true;
    return v;
  }

  // ---- typed arrays ----
  template <class E, napi_typedarray_type kType>
  View<E> typed(Napi::Value v, const char* name, const char* type_name, bool nullable) {
    View<E> out;
    if (failed_) return out;
    if (nullable && absent(v)) return out;
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kType) {
      type_error(quote(name) + " must be a " + type_name + (nullable ? " or null" : ""));
      return out;
    }
    auto arr = v.As<Napi::TypedArrayOf<E>>();
    out.data = arr.Data();
    out.len = static_cast<int64_t>(arr.ElementLength());
    out.present = true;
    return out;
  }
  F32 f32(Napi::Value v, const char* name) { return typed<float, napi_float32_array>(v, name, "Float32Array", false); }
  F32 f32_or_null(Napi::Value v, const char* name) {
    return typed<float, napi_float32_array>(v, name, "Float32Array", true);
  }
  I32 i32(Napi::Value v, const char* name) { return typed<int32_t, napi_int32_array>(v, name, "Int32Array", false); }
  I32 i32_or_null(Napi::Value v, const char* name) {
    return typed<int32_t, napi_int32_array>(v, name, "Int32Array", true);
  }
  U8 u8(Napi::Value v, const char* name) { return typed<uint8_t, napi_uint8_array>(v, name, "Uint8Array", false); }
  U16 u16(Napi::Value v, const char* name) { return typed<uint16_t, napi_uint16_array>(v, name, "Uint16Array", false); }
  // A Float32Array or (bf16 bits) a Uint16Array.
  MatView mat(Napi::Value v, const char* name) {
    MatView out;
    if (failed_) return out;
    if (v.IsTypedArray()) {
      auto t = v.As<Napi::TypedArray>().TypedArrayType();
      if (t == napi_float32_array) {
        auto a = v.As<Napi::Float32Array>();
        return {a.Data(), false, static_cast<int64_t>(a.ElementLength())};
      }
      if (t == napi_uint16_array) {
        auto a = v.As<Napi::Uint16Array>();
        return {a.Data(), true, static_cast<int64_t>(a.ElementLength())};
      }
    }
    type_error(quote(name) + " must be a Float32Array or a Uint16Array (bf16 bits)");
    return out;
  }

  // ---- scalars ----
  double number(Napi::Value v, const char* name) {
    if (failed_) return 0.0;
    if (!v.IsNumber()) {
      type_error(quote(name) + " must be a number");
      return 0.0;
    }
    double d = v.As<Napi::Number>().DoubleValue();
    if (!std::isfinite(d)) range_error(quote(name) + " must be finite");
    return d;
  }
  double number_or(Napi::Value v, const char* name, double fallback) {
    return absent(v) ? (failed_ ? 0.0 : fallback) : number(v, name);
  }
  // A non-negative integer not above max (range-checked before the cast: casting an out-of-range double is UB).
  int64_t count(Napi::Value v, const char* name, double max = kMaxSafe - 1) {
    if (failed_) return 0;
    if (!v.IsNumber()) {
      type_error(quote(name) + " must be a number");
      return 0;
    }
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0 && d <= max) || d != std::floor(d)) {
      range_error(quote(name) + " must be a non-negative integer, got " + v.ToString().Utf8Value());
      return 0;
    }
    return static_cast<int64_t>(d);
  }
  int64_t count_or(Napi::Value v, const char* name, int64_t fallback, double max = kMaxSafe - 1) {
    return absent(v) ? (failed_ ? 0 : fallback) : count(v, name, max);
  }
  bool boolean(Napi::Value v, const char* name) {
    if (failed_) return false;
    if (!v.IsBoolean()) {
      type_error(quote(name) + " must be a boolean");
      return false;
    }
    return v.As<Napi::Boolean>().Value();
  }
  bool boolean_or(Napi::Value v, const char* name, bool fallback) {
    return absent(v) ? (failed_ ? false : fallback) : boolean(v, name);
  }
  std::string string(Napi::Value v, const char* name) {
    if (failed_) return "";
    if (!v.IsString()) {
      type_error(quote(name) + " must be a string");
      return "";
    }
    return v.As<Napi::String>().Utf8Value();
  }
  // GEMM precision, 'f32' or 'bf16' (true); fallback when absent.
  bool bf16_compute_or(Napi::Value v, const char* name, bool fallback) {
    if (failed_) return false;
    if (absent(v)) return fallback;
    const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
    if (s != "f32" && s != "bf16") range_error(quote(name) + " must be 'f32' or 'bf16'");
    return s == "bf16";
  }

  // ---- sizes ----
  // Product of sizes, failing (instead of overflowing) at 2^53.
  int64_t product(std::initializer_list<int64_t> xs, const char* what) {
    double p = 1.0;
    int64_t r = 1;
    for (int64_t x : xs) {
      p *= static_cast<double>(x);
      r *= x;
      if (p >= kMaxSafe) {
        range_error(std::string(what) + " is too large");
        return 0;
      }
    }
    return r;
  }
  // Exactly `expected` elements (shape describes it, e.g. "rows·dim").
  template <class Vw>
  void length(const Vw& a, int64_t expected, const char* name, const char* shape) {
    if (failed_ || a.len == expected) return;
    range_error(quote(name) + " has " + std::to_string(a.len) + " elements, expected " + std::to_string(expected) +
                " (" + shape + ")");
  }
  // At least `needed` elements.
  template <class Vw>
  void at_least(const Vw& a, int64_t needed, const char* name) {
    if (failed_ || a.len >= needed) return;
    range_error(quote(name) + " has " + std::to_string(a.len) + " elements, needs " + std::to_string(needed));
  }

  // Every element of v in [0, limit) (token ids, positions).
  void indices(const I32& v, int64_t limit, const char* name) {
    for (int64_t t = 0; t < v.len && !failed_; ++t)
      if (v.data[t] < 0 || v.data[t] >= limit)
        range_error(std::string(name) + "[" + std::to_string(t) + "] = " + std::to_string(v.data[t]) +
                    " is outside [0, " + std::to_string(limit) + ")");
  }

  static std::string quote(const char* name) { return std::string("'") + name + "'"; }

 private:
  static bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }
  void fail(bool range, const std::string& msg) {
    if (failed_) return;
    failed_ = true;
    if (env_.IsExceptionPending()) return;  // e.g. a throwing getter: keep the first exception
    std::string full = std::string(fn_) + ": " + msg;
    if (range)
      Napi::RangeError::New(env_, full).ThrowAsJavaScriptException();
    else
      Napi::TypeError::New(env_, full).ThrowAsJavaScriptException();
  }
  Napi::Env env_;
  const Napi::CallbackInfo& info_;
  const char* fn_;
  bool failed_ = false;
};

}  // namespace napi
}  // namespace sftkit
