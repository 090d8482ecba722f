#include "cigl/core/kernel_routing.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/optim/sgd.h>

#include "cigl/optimizer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>
#include <type_traits>

#include "cigl/core/sparse_ops.hpp"
#include "cigl/error.hpp"
#include "cigl/layers.hpp"
#include "cigl/masking.hpp"
#include "cigl/model.hpp"
#include "kernels/sparse_kernel.hpp"

namespace cigl {

namespace {
thread_local bool dense_only = false;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

DenseKernelsGuard::DenseKernelsGuard() : previous_(dense_only) {
  dense_only = true;
}
DenseKernelsGuard::~DenseKernelsGuard() { dense_only = previous_; }
bool DenseKernelsGuard::active() { return dense_only; }

KernelRouting::Setting KernelRouting::setting_from_name(
    const std::string& name) {
  if (name == "off") return Setting::off;
  if (name == "on") return Setting::on;
  if (name == "auto") return Setting::automatic;
  throw ConfigError("training.sparse_kernels: \"" + name +
                    "\" is not one of off, on, auto");
}

const char* KernelRouting::setting_name(Setting setting) {
  switch (setting) {
    case Setting::off: return "off";
    case Setting::on: return "on";
    case Setting::automatic: return "auto";
  }
  return "?";
}

const char* KernelRouting::instruction_set() {
  return kernels::instruction_set();
}

struct KernelRouting::Attached {
  std::shared_ptr<torch::nn::Module> module;  // keeps the layer alive
  SparseCapable* layer = nullptr;
  std::shared_ptr<SparseKernel> kernel;
  std::size_t choice = 0;  // index into choices_
  const MaskSet* masks = nullptr;
  std::uint64_t seen_version = 0;  // mask version begin_step last saw
};

KernelRouting::KernelRouting() : step_(std::make_shared<KernelStep>()) {}
KernelRouting::~KernelRouting() { release(); }
KernelRouting::KernelRouting(KernelRouting&&) noexcept = default;
KernelRouting& KernelRouting::operator=(KernelRouting&& other) noexcept {
  if (this != &other) {
    release();
    setting_ = other.setting_;
    step_ = std::move(other.step_);
    attached_ = std::move(other.attached_);
    choices_ = std::move(other.choices_);
    batch_size_ = other.batch_size_;
  }
  return *this;
}

KernelRouting::KernelRouting(Model& model, const MaskSet* masks,
                             Setting setting,
                             const std::vector<std::int64_t>& input_shape,
                             std::int64_t batch_size, torch::Device device)
    : setting_(setting),
      step_(std::make_shared<KernelStep>()),
      batch_size_(batch_size) {
  if (!masks) return;
  std::map<const void*, std::pair<std::shared_ptr<torch::nn::Module>,
                                  SparseCapable*>>
      capable;  // by weight
  for (const auto& item : model.named_modules()) {
    auto* layer = dynamic_cast<SparseCapable*>(item.value().get());
    if (layer) {
      capable[layer->kernel_weight().unsafeGetTensorImpl()] = {item.value(),
                                                               layer};
    }
  }
  for (std::size_t i = 0; i < masks->size(); ++i) {
    KernelChoice choice;
    choice.layer = masks->name(i);
    const auto& weight = masks->weight(i);
    choice.density =
        static_cast<double>(masks->active(i)) /
        static_cast<double>(std::max<std::int64_t>(1, weight.numel()));
    auto it = capable.find(weight.unsafeGetTensorImpl());
    const SparseOp op =
        it == capable.end() ? SparseOp{} : it->second.second->sparse_op();
    if (it == capable.end()) {
      choice.reason = "not a sparse-capable layer (cigl/layers.hpp)";
    } else if (setting == Setting::off) {
      choice.reason = "off";
    } else if (!device.is_cpu()) {
      choice.reason = "CPU kernels only";
    } else if (weight.scalar_type() != torch::kFloat) {
      choice.reason = "float32 kernels only";
    } else if (!op.unsupported.empty()) {
      choice.reason = op.unsupported + " not supported";
    } else {
      Attached a;
      a.module = it->second.first;
      a.layer = it->second.second;
      a.kernel = std::make_shared<SparseKernel>(*masks, i, op, step_);
      a.choice = choices_.size();
      a.masks = masks;
      a.seen_version = masks->version(i);
      a.kernel->set_sparse(setting == Setting::on);
      a.layer->attach_kernel(a.kernel);
      choice.sparse = setting == Setting::on;
      choice.reason = setting == Setting::on ? "on" : "auto";
      attached_.push_back(std::move(a));
    }
    choices_.push_back(std::move(choice));
  }
  if (setting != Setting::automatic || attached_.empty()) return;

  // One forward pass finds every layer's input shape, and whether its
  // input needs a gradient (not the data's).
  {
    const bool was_training = model.is_training();
    model.eval();  // BatchNorm statistics stay as they are
    for (auto& a : attached_) a.kernel->probe(true);
    std::vector<std::int64_t> shape{batch_size};
    shape.insert(shape.end(), input_shape.begin(), input_shape.end());
    try {
      model.forward(torch::zeros(shape, torch::TensorOptions(device)));
    } catch (...) {
      for (auto& a : attached_) a.kernel->probe(false);
      model.train(was_training);
      throw;
    }
    for (auto& a : attached_) a.kernel->probe(false);
    model.train(was_training);
  }
  for (std::size_t i = 0; i < attached_.size(); ++i) time_layer(i);
}

void KernelRouting::time_layer(std::size_t i) {
  Attached& a = attached_[i];
  KernelChoice& choice = choices_[a.choice];
  SparseKernel& kernel = *a.kernel;
  const auto& shape = kernel.probed_shape();
  choice.density = static_cast<double>(a.masks->active(kernel.layer())) /
                   static_cast<double>(std::max<std::int64_t>(
                       1, a.layer->kernel_weight().numel()));
  if (shape.empty()) {
    kernel.set_sparse(false);
    choice.sparse = false;
    choice.reason = "auto: not reached by the forward pass, dense";
    return;
  }
  // Copies of the parameters (with the method's zeros), random data from
  // a private generator: the run's tensors and random numbers stay as
  // they are.
  auto generator = at::make_generator<at::CPUGeneratorImpl>(
      0x5eed + static_cast<std::uint64_t>(i));
  auto x = torch::randn(shape, generator);
  if (kernel.probed_input_grad()) x.requires_grad_(true);
  auto w = a.layer->kernel_weight().detach().clone().requires_grad_(true);
  auto b = a.layer->kernel_bias();
  if (b.defined()) b = b.detach().clone().requires_grad_(true);
  w.mutable_grad() = torch::zeros_like(w);
  if (b.defined()) b.mutable_grad() = torch::zeros_like(b);
  auto dense_run_grad = [&] {
    if (!w.grad().defined()) w.mutable_grad() = torch::zeros_like(w);
  };
  // Output gradients in each output's own layout, as the next layer's
  // backward pass hands them over.
  torch::Tensor dense_grad_out, sparse_grad_out;
  {
    torch::NoGradGuard no_grad;
    auto y = kernel.dense_forward(x, w, b);
    dense_grad_out = torch::randn(y.sizes(), generator);
    sparse_grad_out =
        torch::empty_like(kernel.forward(x, w, b)).copy_(dense_grad_out);
  }
  using clock = std::chrono::steady_clock;
  // As in a training step: the dense path's gradient is zeroed and added
  // to, the sparse path's unset and recycled (see begin_step).
  auto run = [&](bool sparse) {
    const auto start = clock::now();
    if (sparse) {
      torch::Tensor old = w.grad();
      w.mutable_grad() = torch::Tensor();
      kernel.recycle(std::move(old));
      kernel.forward(x, w, b).backward(sparse_grad_out);
    } else {
      dense_run_grad();
      w.mutable_grad().zero_();
      kernel.dense_forward(x, w, b).backward(dense_grad_out);
    }
    return std::chrono::duration<double, std::milli>(clock::now() - start)
        .count();
  };
  const double first = std::max(run(false), run(true));
  const int repeats =
      std::clamp(static_cast<int>(100.0 / std::max(first, 1e-3)), 3, 21);
  std::vector<double> dense, sparse;
  for (int r = 0; r < repeats; ++r) {
    dense.push_back(run(false));
    sparse.push_back(run(true));
  }
  kernel.recycle(torch::Tensor());  // let go of the timing's gradient
  choice.dense_ms = median(dense);
  choice.sparse_ms = median(sparse);
  choice.sparse = choice.sparse_ms < choice.dense_ms;
  kernel.set_sparse(choice.sparse);
  choice.reason = "auto";
}

void KernelRouting::begin_step(bool dense_gradient) {
  step_->dense_gradient = dense_gradient;
  for (auto& a : attached_) {
    a.kernel->clear_ran_sparse();
    // Unset rather than zeroed (by the optimizer, next): autograd then
    // takes the sparse backward pass's gradient as it is instead of adding
    // it to zeros, an O(n) pass, and the old one is recycled for it.
    // optimizer_step puts zeros back for a layer that got no gradient, so
    // the optimizer sees what it would have.
    if (!dense_gradient && a.kernel->sparse()) {
      torch::Tensor old = a.layer->kernel_weight().grad();
      a.layer->kernel_weight().mutable_grad() = torch::Tensor();
      a.kernel->recycle(std::move(old));
    }
  }
  if (setting_ != Setting::automatic) return;
  for (std::size_t i = 0; i < attached_.size(); ++i) {
    Attached& a = attached_[i];
    const auto version = a.masks->version(a.kernel->layer());
    if (version == a.seen_version) continue;
    a.seen_version = version;
    const double before = choices_[a.choice].density;
    const double now = static_cast<double>(a.masks->active(a.kernel->layer())) /
                       static_cast<double>(std::max<std::int64_t>(
                           1, a.layer->kernel_weight().numel()));
    if (std::abs(now - before) > 0.25 * before) time_layer(i);
  }
}

namespace {

/// The momentum buffer of `param`, created (zero) on SGD's first step,
/// which `first` then reports.
torch::Tensor momentum_of(torch::optim::SGD& sgd, const torch::Tensor& param,
                          bool& first) {
  auto* state = optimizer_state(sgd, param);
  first = state == nullptr;
  if (!first) {
    return static_cast<torch::optim::SGDParamState&>(*state).momentum_buffer();
  }
  auto created = std::make_unique<torch::optim::SGDParamState>();
  created->momentum_buffer(torch::zeros_like(param));
  auto buffer = created->momentum_buffer();
  set_optimizer_state(sgd, param, std::move(created));
  return buffer;
}

}  // namespace

void KernelRouting::optimizer_step(Optimizer& optimizer) {
  torch::optim::Optimizer* underlying = optimizer.torch_optimizer();
  auto* sgd =
      underlying ? dynamic_cast<torch::optim::SGD*>(underlying) : nullptr;
  if (!sgd || step_->dense_gradient) {
    write_back_state();
    optimizer.step();
    for (auto& a : attached_) a.kernel->forget_optimizer_state();
    return;
  }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> held;  // param, grad
  torch::NoGradGuard no_grad;
  std::vector<bool> stepped(attached_.size(), false);
  for (std::size_t i = 0; i < attached_.size(); ++i) {
    Attached& a = attached_[i];
    const torch::Tensor& weight = a.layer->kernel_weight();
    if (a.kernel->sparse() && !weight.grad().defined() &&
        weight.requires_grad()) {
      weight.mutable_grad() = torch::zeros_like(weight);  // see begin_step
    }
    if (!a.kernel->ran_sparse()) continue;
    const torch::Tensor grad = weight.grad();
    if (!grad.defined() || grad.is_sparse() || !grad.is_contiguous() ||
        !weight.is_contiguous()) {
      continue;
    }
    const torch::optim::SGDOptions* options = nullptr;
    for (auto& group : sgd->param_groups()) {
      for (const auto& p : group.params()) {
        if (p.is_same(weight)) {
          options = &static_cast<torch::optim::SGDOptions&>(group.options());
        }
      }
    }
    if (!options) continue;  // not a parameter of this optimizer
    kernels::SgdOptions o;
    o.lr = options->lr();
    o.momentum = options->momentum();
    o.dampening = options->dampening();
    o.weight_decay = options->weight_decay();
    o.nesterov = options->nesterov();
    bool first = false;
    torch::Tensor buffer;
    if (o.momentum != 0) buffer = momentum_of(*sgd, weight, first);
    a.kernel->sgd_step(weight, grad, buffer, first, o);
    // Hidden from the optimizer's own step, which skips parameters
    // without a gradient.
    held.emplace_back(weight, grad);
    weight.mutable_grad() = torch::Tensor();
    stepped[i] = true;
  }
  // The optimizer's own step reads the buffers of the layers it updates:
  // current ones, and what the kernels knew of those layers goes after it.
  for (std::size_t i = 0; i < attached_.size(); ++i) {
    if (!stepped[i]) attached_[i].kernel->write_back_momentum();
  }
  try {
    optimizer.step();
  } catch (...) {
    for (auto& [p, g] : held) p.mutable_grad() = g;
    throw;
  }
  for (auto& [p, g] : held) p.mutable_grad() = g;
  for (std::size_t i = 0; i < attached_.size(); ++i) {
    if (!stepped[i]) attached_[i].kernel->forget_optimizer_state();
  }
}

void KernelRouting::write_back_state() {
  for (auto& a : attached_) a.kernel->write_back_momentum();
}

void KernelRouting::forget_state() {
  for (auto& a : attached_) a.kernel->forget_momentum();
}

void KernelRouting::detach() {
  write_back_state();
  release();
}

void KernelRouting::release() noexcept {
  for (auto& a : attached_) {
    if (a.layer) a.layer->attach_kernel(nullptr);
  }
  attached_.clear();
}

std::string KernelRouting::summary() const {
  std::string out = "  sparse kernels " + std::string(setting_name(setting_));
  if (setting_ == Setting::off) return out + "\n";
  out += " (" + std::string(instruction_set()) + ", " +
         std::to_string(at::get_num_threads()) + " threads)";
  if (choices_.empty()) return out + ": the method keeps no masks, all dense\n";
  out += ":\n";
  for (const auto& c : choices_) {
    char line[256];
    std::snprintf(line, sizeof line, "    %-24s %-6s density %.4f  %s",
                  c.layer.c_str(), c.sparse ? "sparse" : "dense", c.density,
                  c.reason.c_str());
    out += line;
    if (c.dense_ms > 0) {
      std::snprintf(line, sizeof line,
                    " (a step: sparse %.3f ms, dense %.3f ms)", c.sparse_ms,
                    c.dense_ms);
      out += line;
    }
    out += "\n";
  }
  return out;
}

void KernelRouting::save(torch::serialize::OutputArchive& archive) const {
  std::vector<std::int64_t> sparse;
  for (const auto& c : choices_) sparse.push_back(c.sparse ? 1 : 0);
  archive.write("kernels/sparse", torch::tensor(sparse, torch::kLong));
}

void KernelRouting::load(torch::serialize::InputArchive& archive) {
  torch::Tensor sparse;
  if (!archive.try_read("kernels/sparse", sparse)) return;
  if (setting_ != Setting::automatic) return;  // "on"/"off" decide alone
  if (sparse.numel() != static_cast<std::int64_t>(choices_.size())) {
    throw Error("saved kernel choices cover " + std::to_string(sparse.numel()) +
                " layers, the model has " + std::to_string(choices_.size()));
  }
  for (auto& a : attached_) {
    const bool s =
        sparse[static_cast<std::int64_t>(a.choice)].item<std::int64_t>() != 0;
    a.kernel->set_sparse(s);
    choices_[a.choice].sparse = s;
    choices_[a.choice].reason = "auto, as saved";
  }
}

}  // namespace cigl
