#pragma once
#include <stdexcept>
#include <string>

#include "cigl/export.hpp"

namespace cigl {

/// Base of every error cigl reports; `what()` is one line meant for users.
class CIGL_API Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
  ~Error() override;
};

/// A config, command-line or plugin-set-up problem: the run never started.
/// cigl-run exits with code 2 for these.
class CIGL_API ConfigError : public Error {
 public:
  using Error::Error;
  ~ConfigError() override;
};

/// A problem with a plugin file (load, entry point, version, register).
class CIGL_API PluginError : public ConfigError {
 public:
  using ConfigError::ConfigError;
  ~PluginError() override;
};

/// Bad input data (a truncated or malformed dataset file, NaN logits).
class CIGL_API DataError : public Error {
 public:
  using Error::Error;
  ~DataError() override;
};

/// What `e` says, as one line: LibTorch's errors carry a backtrace and
/// source location over many lines; this keeps the first line of the
/// message alone ("DefaultCPUAllocator: can't allocate memory: ...").
CIGL_API std::string one_line(const std::exception& e);

}  // namespace cigl
