#pragma once
// Where and how the trainer computes: experiment.device, precision and
// memory format, read once from the config.
#include <string>

#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

/// experiment.device: "auto" (CUDA device 0 when usable, else the CPU),
/// "cpu", "cuda" (device 0) or "cuda:N". Throws ConfigError, saying
/// which devices there are, when the device is not usable; the message
/// does not name the key (Params::fail adds it with the config line).
CIGL_API torch::Device resolve_device(const std::string& wanted);

/// experiment.precision.
enum class Precision {
  fp32,  ///< everything in float32
  bf16,  ///< forward and loss under bfloat16 autocast; float32 weights,
         ///< gradients and optimizer state
};
CIGL_API Precision precision_from_name(const std::string& name);

/// Mixed precision for its scope, as Python's torch.autocast: eligible
/// ops of the forward pass and loss run in bfloat16 on `device`, weights
/// stay float32 (their casts are cached inside the scope and dropped at
/// its end, so the next step casts the updated weights). Does nothing for
/// Precision::fp32.
class CIGL_API AutocastScope {
 public:
  AutocastScope(torch::Device device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  torch::DeviceType type_ = torch::kCPU;
  bool was_enabled_ = false;
  torch::ScalarType previous_type_ = torch::kFloat;
};

}  // namespace cigl
