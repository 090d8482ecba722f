#include "cigl/core/device.hpp"

#include <ATen/autocast_mode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "cigl/error.hpp"

namespace cigl {

namespace {

std::string unknown(const std::string& wanted) {
  return "\"" + wanted +
         "\" is not a device; use \"auto\", \"cpu\", \"cuda\" or \"cuda:N\"";
}

}  // namespace

torch::Device resolve_device(const std::string& wanted) {
  if (wanted == "cpu") return torch::kCPU;
  if (wanted == "auto") {
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0)
                                       : torch::Device(torch::kCPU);
  }
  const std::string prefix = "cuda";
  std::int64_t index = 0;
  if (wanted.rfind(prefix, 0) != 0) {
    throw ConfigError(unknown(wanted));
  }
  if (wanted.size() > prefix.size()) {
    const std::string digits = wanted.substr(prefix.size() + 1);
    if (wanted[prefix.size()] != ':' || digits.empty() || digits.size() > 4 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      throw ConfigError(unknown(wanted));
    }
    index = std::stoll(digits);
  }
  const auto count = static_cast<std::int64_t>(torch::cuda::device_count());
  if (count == 0) {
    throw ConfigError("\"" + wanted +
                      "\", but no CUDA device is usable (this LibTorch build "
                      "has no CUDA support or no GPU is visible); use "
                      "\"auto\" or \"cpu\"");
  }
  if (index >= count) {
    throw ConfigError("\"" + wanted + "\", but there " +
                      (count == 1 ? "is 1 CUDA device (cuda:0)"
                                  : "are " + std::to_string(count) +
                                        " CUDA devices (cuda:0 .. cuda:" +
                                        std::to_string(count - 1) + ")") +
                      "; use one of them, \"auto\" or \"cpu\"");
  }
  return torch::Device(torch::kCUDA, static_cast<torch::DeviceIndex>(index));
}

Precision precision_from_name(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw ConfigError("experiment.precision = \"" + name +
                    "\": use \"fp32\" or \"bf16\"");
}

// LibTorch 2.x keys autocast by device type; 1.x had a function per type.
AutocastScope::AutocastScope(torch::Device device, Precision precision) {
  if (precision == Precision::fp32) return;
  type_ = device.type();
  if (type_ != torch::kCPU && type_ != torch::kCUDA) {
    throw Error("bf16 autocast on " + device.str() + " is not supported");
  }
#if TORCH_VERSION_MAJOR >= 2
  was_enabled_ = at::autocast::is_autocast_enabled(type_);
  previous_type_ = at::autocast::get_autocast_dtype(type_);
  at::autocast::set_autocast_dtype(type_, torch::kBFloat16);
  at::autocast::set_autocast_enabled(type_, true);
#else
  if (type_ == torch::kCUDA) {
    was_enabled_ = at::autocast::is_enabled();
    previous_type_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_autocast_gpu_dtype(torch::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    was_enabled_ = at::autocast::is_cpu_enabled();
    previous_type_ = at::autocast::get_autocast_cpu_dtype();
    at::autocast::set_autocast_cpu_dtype(torch::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // The outermost scope drops the cached bfloat16 copies of the weights.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if TORCH_VERSION_MAJOR >= 2
  at::autocast::set_autocast_enabled(type_, was_enabled_);
  at::autocast::set_autocast_dtype(type_, previous_type_);
#else
  if (type_ == torch::kCUDA) {
    at::autocast::set_enabled(was_enabled_);
    at::autocast::set_autocast_gpu_dtype(previous_type_);
  } else {
    at::autocast::set_cpu_enabled(was_enabled_);
    at::autocast::set_autocast_cpu_dtype(previous_type_);
  }
#endif
}

}  // namespace cigl
