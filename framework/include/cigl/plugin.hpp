#pragma once
// The plugin entry point. A plugin library defines, once:
//
//   static void register_all(cigl::Registrar& r) { r.add<cigl::Model>(...); }
//   CIGL_PLUGIN("my_models", "1.0.0", register_all)
//
// The host looks up the C symbol `cigl_plugin_info`, checks api_version and
// the build fingerprint by strict equality, and only then calls `reg`.
// Exceptions never cross the boundary: the generated wrapper catches them
// inside the plugin and hands the host a message.
#include <cstddef>
#include <cstdio>
#include <exception>

#include <torch/version.h>

#include "cigl/component.hpp"

// Bumped whenever an SDK class's layout or virtual table changes.
// 2: Dataset::augment, Method::training_flops, DatasetInfo::train_examples.
// 3: Metric::scalar, Method::needs_dense_gradient, MaskSet versions,
//    cigl/layers.hpp, TrainContext::collectives (data-parallel runs),
//    Kind::optimizer and the Optimizer interface (TrainContext::optimizer,
//    MaskSet::replace take it), Method::averaging_snapshot.
#define CIGL_PLUGIN_API_VERSION 3

#define CIGL_STR_(x) #x
#define CIGL_STR(x) CIGL_STR_(x)
#if defined(__clang__)
#define CIGL_COMPILER_ID "clang-" CIGL_STR(__clang_major__)
#elif defined(__GNUC__)
#define CIGL_COMPILER_ID "gcc-" CIGL_STR(__GNUC__)
#else
#define CIGL_COMPILER_ID "unknown"
#endif
/// What must match between host and plugin for C++ objects to cross: the
/// compiler family, the libstdc++ string ABI and the LibTorch version.
#define CIGL_BUILD_FINGERPRINT \
  CIGL_COMPILER_ID             \
  " cxx11abi=" CIGL_STR(_GLIBCXX_USE_CXX11_ABI) " torch=" TORCH_VERSION

extern "C" {
/// Plain struct, stable layout: api_version stays the first member.
struct cigl_plugin_info_t {
  int api_version;
  const char* name;
  const char* version;
  const char* fingerprint;
  /// Returns 0 on success; otherwise writes a message into `error`.
  int (*reg)(cigl::Registrar* registrar, char* error, std::size_t size);
};
}

#define CIGL_PLUGIN_ENTRY_SYMBOL "cigl_plugin_info"

#define CIGL_PLUGIN(NAME, VERSION, REGISTER_FN)                               \
  static int cigl_plugin_register_(cigl::Registrar* registrar, char* error,   \
                                   std::size_t size) {                        \
    try {                                                                     \
      REGISTER_FN(*registrar);                                                \
      return 0;                                                               \
    } catch (const std::exception& e) {                                       \
      std::snprintf(error, size, "%s", e.what());                             \
    } catch (...) {                                                           \
      std::snprintf(error, size, "unknown exception");                        \
    }                                                                         \
    return 1;                                                                 \
  }                                                                           \
  extern "C" __attribute__((visibility("default"))) const cigl_plugin_info_t* \
  cigl_plugin_info() {                                                        \
    static const cigl_plugin_info_t info{CIGL_PLUGIN_API_VERSION, NAME,       \
                                         VERSION, CIGL_BUILD_FINGERPRINT,     \
                                         &cigl_plugin_register_};             \
    return &info;                                                             \
  }
