#include "cigl/masking.hpp"

#include <atomic>
#include <cmath>
#include <sstream>
#include <type_traits>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/sgd.h>

#include "cigl/error.hpp"
#include "cigl/optimizer.hpp"

namespace cigl {

std::int64_t LayerShape::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::vector<MaskableParameter> maskable_parameters(torch::nn::Module& model) {
  std::vector<MaskableParameter> out;
  for (const auto& item : model.named_modules()) {
    const auto& module = item.value();
    torch::Tensor weight;
    if (auto* m = module->as<torch::nn::Linear>()) weight = m->weight;
    if (auto* m = module->as<torch::nn::Conv1d>()) weight = m->weight;
    if (auto* m = module->as<torch::nn::Conv2d>()) weight = m->weight;
    if (auto* m = module->as<torch::nn::Conv3d>()) weight = m->weight;
    if (weight.defined()) {
      std::string name = item.key().empty() ? "weight" : item.key() + ".weight";
      out.push_back({std::move(name), weight});
    }
  }
  return out;
}

std::vector<LayerShape> maskable_shapes(torch::nn::Module& model) {
  std::vector<LayerShape> out;
  for (const auto& p : maskable_parameters(model)) {
    out.push_back({p.name, p.weight.sizes().vec()});
  }
  return out;
}

std::int64_t ones_for_density(std::int64_t numel, double density) {
  // As the RigL reference: zeros = floor(sparsity * size).
  const double sparsity = 1.0 - density;
  auto zeros = static_cast<std::int64_t>(
      std::floor(sparsity * static_cast<double>(numel)));
  return std::clamp<std::int64_t>(numel - zeros, 0, numel);
}

std::vector<double> scale_to_density(const std::vector<LayerShape>& layers,
                                     const std::vector<double>& raw,
                                     double density,
                                     const std::map<std::size_t, double>& fixed,
                                     bool fixed_in_budget) {
  const std::size_t n = layers.size();
  if (raw.size() != n) throw Error("scale_to_density: one raw value per layer");
  std::vector<bool> dense(n, false);
  double epsilon = 0;
  for (;;) {
    double rhs = 0, divisor = 0, max_raw = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto size = layers[i].numel();
      const auto zeros = size - ones_for_density(size, density);
      const auto ones = size - zeros;
      auto f = fixed.find(i);
      if (f != fixed.end()) {
        if (fixed_in_budget) rhs += ones - ones_for_density(size, f->second);
      } else if (dense[i]) {
        rhs -= zeros;
      } else {
        rhs += ones;
        divisor += raw[i] * static_cast<double>(size);
        max_raw = std::max(max_raw, raw[i]);
      }
    }
    if (divisor == 0) break;  // nothing left to scale
    epsilon = rhs / divisor;
    if (epsilon * max_raw <= 1) break;
    for (std::size_t i = 0; i < n; ++i) {
      if (!fixed.count(i) && !dense[i] && raw[i] == max_raw) dense[i] = true;
    }
  }
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto f = fixed.find(i);
    out[i] = f != fixed.end() ? f->second
             : dense[i]       ? 1.0
                              : std::clamp(epsilon * raw[i], 0.0, 1.0);
  }
  return out;
}

namespace {
std::uint64_t next_mask_version() {
  static std::atomic<std::uint64_t> counter{0};
  return ++counter;
}
}  // namespace

MaskSet::MaskSet(torch::nn::Module& model) {
  for (auto& p : maskable_parameters(model)) {
    auto mask = torch::ones_like(p.weight, torch::kBool);
    layers_.push_back({p.name, p.weight, mask, next_mask_version(), {}});
  }
}

void MaskSet::set_mask(std::size_t i, torch::Tensor mask) {
  auto& layer = layers_.at(i);
  if (mask.sizes() != layer.weight.sizes()) {
    throw Error("mask for " + layer.name + " has the wrong shape");
  }
  layer.mask = mask.to(layer.weight.device(), torch::kBool).contiguous();
  layer.version = next_mask_version();
}

void MaskSet::replace(std::size_t i, const torch::Tensor& mask,
                      Optimizer& optimizer, bool reset_grown_state) {
  torch::NoGradGuard no_grad;
  const auto old = layers_.at(i).mask;
  auto target = mask.to(old.device(), torch::kBool);
  auto grown = target.logical_and(old.logical_not());
  auto dropped = old.logical_and(target.logical_not());
  set_mask(i, target);
  const auto& weight = layers_[i].weight;
  weight.masked_fill_(dropped.logical_or(grown), 0);
  // Without reset_grown_state only the dropped connections lose their
  // state: SNFS grows by the momentum of inactive weights, which must
  // survive the update.
  optimizer.reset_state(
      weight, reset_grown_state ? dropped.logical_or(grown) : dropped);
}

std::vector<LayerShape> MaskSet::shapes() const {
  std::vector<LayerShape> out;
  for (const auto& l : layers_) out.push_back({l.name, l.weight.sizes().vec()});
  return out;
}

void MaskSet::randomize(const std::vector<double>& densities,
                        torch::Generator& generator) {
  if (densities.size() != layers_.size()) {
    throw Error("distribution returned " + std::to_string(densities.size()) +
                " densities for " + std::to_string(layers_.size()) +
                " maskable layers");
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto& layer = layers_[i];
    const std::int64_t n = layer.weight.numel();
    const std::int64_t ones = ones_for_density(n, densities[i]);
    auto order = torch::randperm(n, generator, torch::kLong);
    auto flat = torch::zeros({n}, torch::kBool);
    flat.index_fill_(0, order.narrow(0, 0, ones), true);
    layer.mask = flat.view(layer.weight.sizes()).to(layer.weight.device());
    layer.version = next_mask_version();
  }
}

void MaskSet::apply_to_weights() const {
  torch::NoGradGuard no_grad;
  // See Note [masking by multiplication] in masking.hpp.
  for (const auto& l : layers_) l.weight.mul_(l.mask.view(torch::kUInt8));
}

bool MaskSet::known_masked(const Layer& l) {
  if (!l.masked_gradient) return false;
  const auto& vouched = *l.masked_gradient;
  const auto& grad = l.weight.grad();
  const auto storage = vouched.storage.lock();
  return storage && storage.get() == grad.storage().unsafeGetStorageImpl() &&
         grad.storage_offset() == 0 && grad.is_contiguous() &&
         grad._version() == vouched.grad_version &&
         vouched.mask_version == l.version;
}

void MaskSet::apply_to_gradients() const {
  for (const auto& l : layers_) {
    if (l.weight.grad().defined() && !known_masked(l)) {
      l.weight.mutable_grad().mul_(l.mask.view(torch::kUInt8));
    }
  }
}

void MaskSet::note_masked_gradient(std::size_t i,
                                   const torch::Tensor& grad) const {
  const auto& l = layers_.at(i);
  l.masked_gradient = Layer::MaskedGradient{grad.storage().getWeakStorageImpl(),
                                            grad._version(), l.version};
}

std::int64_t MaskSet::active(std::size_t i) const {
  return layers_.at(i).mask.sum().item<std::int64_t>();
}

std::int64_t MaskSet::active() const {
  std::int64_t n = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) n += active(i);
  return n;
}

std::int64_t MaskSet::total() const {
  std::int64_t n = 0;
  for (const auto& l : layers_) n += l.weight.numel();
  return n;
}

double MaskSet::density() const {
  auto t = total();
  return t == 0 ? 1.0 : static_cast<double>(active()) / static_cast<double>(t);
}

void MaskSet::save(torch::serialize::OutputArchive& archive) const {
  for (const auto& l : layers_) archive.write("mask/" + l.name, l.mask);
}

void MaskSet::load(torch::serialize::InputArchive& archive) {
  for (auto& l : layers_) {
    torch::Tensor mask;
    archive.read("mask/" + l.name, mask);
    if (mask.sizes() != l.weight.sizes()) {
      throw Error("saved mask of " + l.name + " has shape " +
                  c10::str(mask.sizes()) + ", the weight " +
                  c10::str(l.weight.sizes()));
    }
    l.mask = mask.to(l.weight.device(), torch::kBool).contiguous();
    l.version = next_mask_version();
  }
}

namespace {
// The optimizer state map is keyed by the parameter's TensorImpl: as its
// printed address in LibTorch 1.x, as the pointer itself in later versions.
template <class Key>
Key state_key(const torch::Tensor& param) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << param.unsafeGetTensorImpl();
    return s.str();
  } else {
    return reinterpret_cast<Key>(param.unsafeGetTensorImpl());
  }
}
}  // namespace

torch::optim::OptimizerParamState* optimizer_state(
    torch::optim::Optimizer& optimizer, const torch::Tensor& param) {
  auto& state = optimizer.state();
  using Key = typename std::decay_t<decltype(state)>::key_type;
  auto it = state.find(state_key<Key>(param));
  return it == state.end() ? nullptr : it->second.get();
}

void set_optimizer_state(
    torch::optim::Optimizer& optimizer, const torch::Tensor& param,
    std::unique_ptr<torch::optim::OptimizerParamState> state) {
  auto& states = optimizer.state();
  using Key = typename std::decay_t<decltype(states)>::key_type;
  states[state_key<Key>(param)] = std::move(state);
}

torch::Tensor momentum_buffer(torch::optim::Optimizer& optimizer,
                              const torch::Tensor& param) {
  auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(
      optimizer_state(optimizer, param));
  return sgd ? sgd->momentum_buffer() : torch::Tensor();
}

}  // namespace cigl
