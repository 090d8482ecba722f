#include "cigl/sparse.hpp"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/batchnorm.h>

#include "cigl/distribution.hpp"
#include "cigl/error.hpp"
#include "top_k.hpp"

namespace cigl {

torch::Tensor smallest_among(const torch::Tensor& scores,
                             const torch::Tensor& among, std::int64_t k) {
  return select_among(scores, among, k, false);
}

torch::Tensor largest_among(const torch::Tensor& scores,
                            const torch::Tensor& among, std::int64_t k) {
  return select_among(scores, among, k, true);
}

std::vector<ParamSpec> DynamicSparsity::params(
    const std::string& default_distribution) {
  return {
      ParamSpec::number("density", 0.1, "fraction of maskable weights kept")
          .greater_than(0)
          .max(1),
      ParamSpec::component("distribution", Kind::distribution,
                           default_distribution,
                           "layer-wise density distribution"),
      ParamSpec::integer("update_interval", 100,
                         "steps between topology updates")
          .min(1),
      ParamSpec::number("begin", 0,
                        "topology updates start here, in timing_unit (by "
                        "default a fraction of training)")
          .min(0),
      ParamSpec::number("end", 0.75,
                        "topology updates stop before this point, in "
                        "timing_unit (by default a fraction of training)")
          .min(0),
      ParamSpec::string("timing_unit", "fraction",
                        "unit of begin and end: fraction of training, "
                        "steps or epochs")
          .one_of({"fraction", "steps", "epochs"}),
      ParamSpec::number("prune_rate", 0.3,
                        "drop fraction at the first update (alpha)")
          .min(0)
          .max(1),
      ParamSpec::component("drop_schedule", Kind::schedule, "cosine",
                           "how the drop fraction decays towards `end`"),
  };
}

ParamSpec DynamicSparsity::update_rule_param() {
  return ParamSpec::string(
             "update_rule", "exact",
             "\"exact\": RigL's update with exact counts (density fixed); "
             "\"sparselearning\": the CigL code's (ceil drop count, "
             "whole-tensor ranking, growth shortfall, regrown weights "
             "reset, updates at steps 99, 199, ...)")
      .one_of({"exact", "sparselearning"});
}

DynamicSparsity::DynamicSparsity(const Params& p)
    : density_(p.number("density")),
      distribution_(p.component("distribution")),
      drop_schedule_(p.component("drop_schedule")),
      interval_(p.integer("update_interval")),
      begin_value_(p.number("begin")),
      end_value_(p.number("end")),
      unit_(p.string("timing_unit")),
      prune_rate_(p.number("prune_rate")),
      sparselearning_(p.has("update_rule") &&
                      p.string("update_rule") == "sparselearning") {
  if (unit_ == "fraction" && (begin_value_ > 1 || end_value_ > 1)) {
    p.fail(begin_value_ > 1 ? "begin" : "end",
           "is a fraction of training (timing_unit = \"fraction\"), so at "
           "most 1");
  }
}

std::int64_t timing_to_step(double value, const std::string& unit,
                            const TrainContext& context) {
  if (unit == "fraction") {
    return static_cast<std::int64_t>(
        std::llround(value * static_cast<double>(context.total_steps)));
  }
  if (unit == "epochs") {
    return static_cast<std::int64_t>(
        std::llround(value * static_cast<double>(context.steps_per_epoch)));
  }
  return static_cast<std::int64_t>(std::llround(value));
}

void DynamicSparsity::setup(TrainContext& context, std::uint64_t stream) {
  begin_ = timing_to_step(begin_value_, unit_, context);
  end_ = timing_to_step(end_value_, unit_, context);
  masks_ = MaskSet(*context.model);
  auto distribution = context.components->create<Distribution>(distribution_);
  generator_ = at::make_generator<at::CPUGeneratorImpl>(
      context.seed * 1000003ULL + stream);
  masks_.randomize(distribution->densities(masks_.shapes(), density_),
                   generator_);
  masks_.apply_to_weights();
  schedule_ = context.components->create<Schedule>(
      drop_schedule_,
      ScheduleContext{prune_rate_, std::max<std::int64_t>(1, end_),
                      context.steps_per_epoch});
}

bool DynamicSparsity::update_due(const TrainContext& context) const {
  return update_due_at(context.step);
}

bool DynamicSparsity::update_due_at(std::int64_t t) const {
  if (t < begin_ || t >= end_) return false;
  // sparselearning counts the step just taken: (global_step + 1) %
  // interval == 0 (main.py:79 of StevenBoys/CigL).
  return sparselearning_ ? (t + 1) % interval_ == 0
                         : t > 0 && t % interval_ == 0;
}

std::int64_t DynamicSparsity::update_steps(std::int64_t total_steps) const {
  // Steps t + offset that are multiples of the interval, with t in
  // [begin, min(end, total) - 1] (and t > 0 for the exact rule).
  const std::int64_t offset = sparselearning_ ? 1 : 0;
  const std::int64_t first = std::max<std::int64_t>(1, begin_ + offset);
  const std::int64_t last = std::min(end_, total_steps) - 1 + offset;
  if (last < first) return 0;
  return last / interval_ - (first - 1) / interval_;
}

double DynamicSparsity::drop_fraction(std::int64_t step) const {
  return std::clamp(schedule_->value(step), 0.0, 1.0);
}

std::int64_t DynamicSparsity::drop_count(std::size_t i,
                                         std::int64_t step) const {
  return static_cast<std::int64_t>(
      std::floor(drop_fraction(step) * static_cast<double>(masks_.active(i))));
}

void DynamicSparsity::drop_and_grow(
    TrainContext& context,
    const std::function<torch::Tensor(std::size_t)>& grow_score) {
  torch::NoGradGuard no_grad;
  if (sparselearning_) {
    drop_and_grow_sparselearning(context, grow_score);
    return;
  }
  for (std::size_t i = 0; i < masks_.size(); ++i) {
    const auto& weight = masks_.weight(i);
    const auto k = drop_count(i, context.step);
    auto mask = masks_.mask(i).reshape(-1).clone();
    mask.index_fill_(0, smallest_among(weight.abs(), mask, k), false);
    mask.index_fill_(0, largest_among(grow_score(i), mask.logical_not(), k),
                     true);
    replace_mask(i, mask.view_as(weight), *context.optimizer);
  }
}

void DynamicSparsity::drop_and_grow_sparselearning(
    TrainContext& context,
    const std::function<torch::Tensor(std::size_t)>& grow_score) {
  // The drop fraction as of the previous step: sparselearning steps its
  // decay after each optimizer step (core.py:767-776).
  const double rate =
      drop_fraction(std::max<std::int64_t>(0, context.step - 1));
  const std::size_t n_layers = masks_.size();
  // Masking.adjust_prune_rate (core.py:258-277) with the "none"
  // redistribution, whose statistic is the count of non-zero weights
  // (funcs/redistribute.py:64-86, 89-94).
  std::vector<double> nonzero(n_layers);
  double total_nonzero = 0;
  for (std::size_t i = 0; i < n_layers; ++i) {
    nonzero[i] = static_cast<double>(
        masks_.weight(i).count_nonzero().item<std::int64_t>());
    total_nonzero += nonzero[i];
  }
  for (std::size_t i = 0; i < n_layers; ++i) {
    const auto& weight = masks_.weight(i);
    const std::int64_t n = weight.numel();
    const std::int64_t active = masks_.active(i);
    const double sparsity =
        static_cast<double>(n - active) / static_cast<double>(n);
    double layer_rate = rate;
    if (sparsity < 0.2 && total_nonzero > 0 && nonzero[i] > 0) {
      const double share = nonzero[i] / total_nonzero;
      const double expected = 1.0 / static_cast<double>(n_layers);
      if (expected / share < 1.0) layer_rate = std::min(sparsity, rate);
    }
    // magnitude_prune: ceil, then the k = zeros + removals smallest |w| of
    // the whole tensor lose their mask bit.
    const auto removals = static_cast<std::int64_t>(
        std::ceil(layer_rate * static_cast<double>(active)));
    if (removals == 0) continue;
    auto mask = masks_.mask(i).reshape(-1).clone();
    const std::int64_t k = std::min(n, (n - active) + removals);
    const auto magnitude = weight.detach().abs().reshape(-1);
    mask.index_fill_(
        0,
        smallest_among(
            magnitude,
            torch::ones({n}, magnitude.options().dtype(torch::kBool)), k)
            .to(mask.device()),
        false);
    const std::int64_t removed = active - mask.sum().item<std::int64_t>();
    // abs_grad_growth: the `removed` largest scores among the entries
    // inactive now. Where fewer than that have a non-zero score, the
    // official top-k fills up with zero scores, whose order torch.sort
    // leaves open (active entries among them grow nothing); here those
    // picks grow nothing and touch no weight: the layer grows fewer.
    auto score = grow_score(i).reshape(-1).to(torch::kDouble).abs();
    auto candidates =
        mask.logical_not().to(score.device()).logical_and(score > 0);
    const std::int64_t n_grow =
        std::min(removed, candidates.sum().item<std::int64_t>());
    auto grown = largest_among(score, candidates, n_grow);
    mask.index_fill_(0, grown.to(mask.device()), true);
    replace_mask(i, mask.view_as(weight), *context.optimizer);
    // Every grown entry starts at 0, a regrown one too, with its optimizer
    // state kept (core.py:839-843 masks the momentum by the new mask only).
    weight.view(-1).index_fill_(0, grown.to(weight.device()), 0);
  }
}

void DynamicSparsity::replace_mask(std::size_t i, const torch::Tensor& mask,
                                   Optimizer& optimizer,
                                   bool reset_grown_state) {
  masks_.replace(i, mask, optimizer, reset_grown_state);
}

void DynamicSparsity::save(torch::serialize::OutputArchive& archive) const {
  masks_.save(archive);
  archive.write("generator", generator_.get_state());
}

void DynamicSparsity::load(torch::serialize::InputArchive& archive) {
  masks_.load(archive);
  masks_.apply_to_weights();
  torch::Tensor state;
  archive.read("generator", state);
  generator_.set_state(state);
}

MaskedMethod::~MaskedMethod() = default;
void MaskedMethod::after_backward(TrainContext&) {
  masks_.apply_to_gradients();
}
const MaskSet* MaskedMethod::mask_set() const { return &masks_; }
void MaskedMethod::save(torch::serialize::OutputArchive& a) const {
  masks_.save(a);
}
void MaskedMethod::load(torch::serialize::InputArchive& a) {
  masks_.load(a);
  masks_.apply_to_weights();
}

DynamicSparseMethod::DynamicSparseMethod(const Params& params,
                                         std::uint64_t stream)
    : sparse_(params), stream_(stream) {}
DynamicSparseMethod::~DynamicSparseMethod() = default;

void DynamicSparseMethod::setup(TrainContext& context) {
  sparse_.setup(context, stream_);
}
bool DynamicSparseMethod::topology_update_due(
    const TrainContext& context) const {
  return sparse_.update_due(context);
}
bool DynamicSparseMethod::needs_dense_gradient(
    const TrainContext& context) const {
  return sparse_.update_due(context);
}
void DynamicSparseMethod::after_backward(TrainContext&) {
  sparse_.masks().apply_to_gradients();
}
const MaskSet* DynamicSparseMethod::mask_set() const {
  return &sparse_.masks();
}
double DynamicSparseMethod::training_flops(const ForwardFlops& f,
                                           const TrainContext& context) const {
  const auto total = std::max<std::int64_t>(1, context.total_steps);
  const auto updates =
      static_cast<double>(sparse_.update_steps(context.total_steps));
  return (3 * f.sparse * (static_cast<double>(total) - updates) +
          (2 * f.sparse + f.dense) * updates) /
         static_cast<double>(total);
}
void DynamicSparseMethod::save(torch::serialize::OutputArchive& a) const {
  sparse_.save(a);
}
void DynamicSparseMethod::load(torch::serialize::InputArchive& a) {
  sparse_.load(a);
}

void recompute_batchnorm(TrainContext& context) {
  struct Norm {
    torch::nn::Module* module;
    std::function<void()> reset;
    std::function<void(c10::optional<double>)> set_momentum;
    c10::optional<double> momentum;
    torch::Tensor mean, var, count;
  };
  std::vector<Norm> norms;
  auto collect = [&](auto* bn) {
    norms.push_back({bn, [bn] { bn->reset_running_stats(); },
                     [bn](c10::optional<double> m) { bn->options.momentum(m); },
                     bn->options.momentum(), bn->running_mean, bn->running_var,
                     bn->num_batches_tracked});
  };
  for (const auto& m : context.model->modules(/*include_self=*/false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm1d>()) collect(bn);
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) collect(bn);
    if (auto* bn = m->as<torch::nn::BatchNorm3d>()) collect(bn);
  }
  if (norms.empty()) return;
  for (auto& n : norms) {
    n.reset();
    n.set_momentum(c10::nullopt);  // cumulative moving average
  }
  torch::NoGradGuard no_grad;
  const bool was_training = context.model->is_training();
  context.model->train();
  // The ranks of a data-parallel run share the batches out.
  Collectives& ranks = *context.collectives;
  std::int64_t batch = 0;
  context.for_each_train_batch(
      [&](const torch::Tensor& inputs, const torch::Tensor&) {
        if (ranks.owns(batch++)) context.model->forward(inputs);
      });
  context.model->train(was_training);
  for (auto& n : norms) n.set_momentum(n.momentum);
  if (ranks.world_size() == 1) return;
  // Each rank holds the mean of its own batches' statistics; the mean
  // over all batches weighs them by the ranks' batch counts.
  std::vector<torch::Tensor> sums, counts;
  for (auto& n : norms) {
    if (!n.mean.defined() || !n.count.defined()) continue;
    const auto count = n.count.to(torch::kDouble);
    n.mean.mul_(count.to(n.mean.dtype()));
    n.var.mul_(count.to(n.var.dtype()));
    sums.push_back(n.mean);
    sums.push_back(n.var);
    counts.push_back(n.count);
  }
  if (sums.empty()) return;
  ranks.all_reduce(sums, ReduceOp::sum);
  ranks.all_reduce(counts, ReduceOp::sum);
  for (auto& n : norms) {
    if (!n.mean.defined() || !n.count.defined()) continue;
    const auto total = n.count.to(n.mean.dtype()).clamp_min(1);
    n.mean.div_(total);
    n.var.div_(total);
  }
}

}  // namespace cigl
