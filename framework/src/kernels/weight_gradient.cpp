#include "weight_gradient.hpp"

namespace cigl::kernels {

namespace {

/// A WeightGradientHook as a saved value of the autograd context.
struct HookHolder : torch::CustomClassHolder {
  explicit HookHolder(WeightGradientHook h) : hook(std::move(h)) {}
  WeightGradientHook hook;
};

}  // namespace

void save_weight_gradient_output(torch::autograd::AutogradContext* ctx,
                                 const WeightGradientOutput& gradient) {
  if (gradient.buffer.defined()) {
    ctx->saved_data["gradient_buffer"] = gradient.buffer;
  }
  if (gradient.hook) {
    ctx->saved_data["hook"] = c10::IValue::make_capsule(
        c10::make_intrusive<HookHolder>(gradient.hook));
  }
}

at::Tensor weight_gradient(torch::autograd::AutogradContext* ctx,
                           const CompressedMask& mask,
                           const at::Tensor& values) {
  at::Tensor buffer;
  auto it = ctx->saved_data.find("gradient_buffer");
  if (it != ctx->saved_data.end()) {
    buffer = it->second.toTensor();
    ctx->saved_data.erase(it);
  }
  at::Tensor out = mask.to_dense(values, std::move(buffer));
  auto hook = ctx->saved_data.find("hook");
  if (hook != ctx->saved_data.end()) {
    c10::static_intrusive_pointer_cast<HookHolder>(hook->second.toCapsule())
        ->hook(out, values);
  }
  return out;
}

}  // namespace cigl::kernels
