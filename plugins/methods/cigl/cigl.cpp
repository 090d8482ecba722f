// Method `cigl` (Lei et al., ICLR 2023, Calibrated Rigged Lottery): two
// masks and weight averaging.
//  1. A deterministic mask M, updated exactly as RigL.
//  2. A random mask D, drawn afresh every step: each active weight is kept
//     with probability 1 - 1/dpnum. Forward and backward use
//     M * D * w * dpnum / (dpnum - 1) (inverted-dropout scaling); only
//     weights with M * D = 1 are updated by the step, those with M = 1,
//     D = 0 keep their value. A topology-update step uses the full M * w.
//  3. From epoch `average_from` on, each epoch end adds a snapshot of the
//     effective weights (that step's D and scaling applied) to a running
//     mean; the final model is the mean, with BatchNorm statistics
//     recomputed on the training data.
// The gradient with respect to w carries the scaling factor (chain rule).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <mutex>
#include <random>
#include <unordered_set>

#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

/// The Generator as a standard random bit engine, so the draws come from
/// the method's checkpointed generator.
struct Bits {
  using result_type = std::uint64_t;
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }
  at::CPUGeneratorImpl* impl;
  result_type operator()() { return impl->random64(); }
};

/// Indices of the dropped entries of a Bernoulli(p) mask over n entries,
/// drawn as the distribution factors: a Binomial(n, p) count, then that
/// many distinct positions uniformly (Floyd's algorithm). Costs O(count)
/// instead of one draw per weight.
std::vector<std::int64_t> bernoulli_positions(std::int64_t n, double p,
                                              torch::Generator& generator) {
  auto* impl = generator.get<at::CPUGeneratorImpl>();
  std::lock_guard<std::mutex> lock(generator.mutex());
  Bits bits{impl};
  const auto count = std::binomial_distribution<std::int64_t>(n, p)(bits);
  std::vector<std::int64_t> out;
  std::unordered_set<std::int64_t> chosen;
  for (std::int64_t j = n - count; j < n; ++j) {
    auto t = std::uniform_int_distribution<std::int64_t>(0, j)(bits);
    if (!chosen.insert(t).second) {
      chosen.insert(j);
      t = j;
    }
    out.push_back(t);
  }
  return out;
}

class CigL : public cigl::DynamicSparseMethod {
 public:
  explicit CigL(const cigl::Params& p)
      : DynamicSparseMethod(p, 104),
        drop_probability_(1.0 / p.number("dpnum")),
        scale_(p.number("dpnum") / (p.number("dpnum") - 1)),
        average_from_(p.number("average_from")),
        average_unit_(p.string("average_unit")) {
    if (average_unit_ == "fraction" && average_from_ > 1) {
      p.fail("average_from", "is a fraction of the epochs, so at most 1");
    }
  }

  void setup(cigl::TrainContext& context) override {
    DynamicSparseMethod::setup(context);
    first_averaged_epoch_ =
        average_unit_ == "fraction"
            ? static_cast<std::int64_t>(std::llround(
                  average_from_ * static_cast<double>(context.epochs)))
            : static_cast<std::int64_t>(std::llround(average_from_));
    refresh_active();
    const auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      stash_.push_back(torch::empty_like(masks.weight(i)));
    }
    dropped_.resize(masks.size());
  }

  void before_step(cigl::TrainContext& context) override {
    random_mask_ = !sparse_.update_due(context);
    if (!random_mask_) return;
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      // Only active weights can be dropped, so draw for those alone.
      auto positions = bernoulli_positions(
          active_[i].numel(), drop_probability_, sparse_.generator());
      dropped_[i] = active_[i]
                        .index_select(0, torch::tensor(positions, torch::kLong))
                        .to(weight.device());
      stash_[i].copy_(weight);
      weight.mul_(scale_);
      weight.view(-1).index_fill_(0, dropped_[i], 0);
    }
  }

  // The deterministic mask's update is RigL's.
  bool update_topology(cigl::TrainContext& context) override {
    sparse_.drop_and_grow(context, [&](std::size_t i) {
      return sparse_.masks().weight(i).grad().abs();
    });
    refresh_active();
    return false;
  }

  void after_backward(cigl::TrainContext& context) override {
    DynamicSparseMethod::after_backward(context);  // mask by M
    auto& masks = sparse_.masks();
    if (!random_mask_) return;
    torch::NoGradGuard no_grad;
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      auto grad = weight.mutable_grad();
      grad.view(-1).index_fill_(0, dropped_[i], 0);
      grad.mul_(scale_);
      weight.copy_(stash_[i]);  // the step updates the unscaled weights
    }
  }

  void after_step(cigl::TrainContext&) override {
    if (!random_mask_) return;
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      // Weights the random mask hid keep their value through the step.
      masks.weight(i).view(-1).index_copy_(
          0, dropped_[i], stash_[i].view(-1).index_select(0, dropped_[i]));
    }
  }

  void on_epoch_end(cigl::TrainContext& context) override {
    if (context.epoch + 1 <= first_averaged_epoch_) return;
    torch::NoGradGuard no_grad;
    const auto& masks = sparse_.masks();
    std::vector<torch::Tensor> snapshot;
    for (const auto& p : context.model->parameters())
      snapshot.push_back(p.clone());
    // The effective weights of the epoch's last step: its random mask and
    // scaling applied to the maskable layers.
    auto params = context.model->parameters();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      for (std::size_t j = 0; j < params.size(); ++j) {
        if (!params[j].is_same(masks.weight(i))) continue;
        if (random_mask_) {
          snapshot[j].mul_(scale_).view(-1).index_fill_(0, dropped_[i], 0);
        }
      }
    }
    const double n = static_cast<double>(averaged_);
    if (average_.empty()) {
      average_ = snapshot;
    } else {
      for (std::size_t j = 0; j < average_.size(); ++j) {
        average_[j].mul_(n / (n + 1)).add_(snapshot[j], 1.0 / (n + 1));
      }
    }
    ++averaged_;
  }

  std::shared_ptr<cigl::Model> finalize(cigl::TrainContext& context) override {
    if (averaged_ == 0) return nullptr;
    {
      torch::NoGradGuard no_grad;
      auto params = context.model->parameters();
      for (std::size_t j = 0; j < params.size(); ++j)
        params[j].copy_(average_[j]);
    }
    cigl::recompute_batchnorm(context);
    return nullptr;  // the model itself now holds the average
  }

  void save(torch::serialize::OutputArchive& a) const override {
    DynamicSparseMethod::save(a);
    a.write("averaged", torch::tensor(averaged_));
    a.write("average_tensors",
            torch::tensor(static_cast<std::int64_t>(average_.size())));
    for (std::size_t j = 0; j < average_.size(); ++j) {
      a.write("average/" + std::to_string(j), average_[j]);
    }
  }
  void load(torch::serialize::InputArchive& a) override {
    DynamicSparseMethod::load(a);
    refresh_active();
    torch::Tensor count;
    a.read("averaged", count);
    averaged_ = count.item<std::int64_t>();
    a.read("average_tensors", count);
    average_.clear();
    for (std::int64_t j = 0; j < count.item<std::int64_t>(); ++j) {
      torch::Tensor t;
      a.read("average/" + std::to_string(j), t);
      average_.push_back(t);
    }
  }

 private:
  void refresh_active() {
    const auto& masks = sparse_.masks();
    active_.clear();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      active_.push_back(masks.mask(i).reshape(-1).nonzero().squeeze(1).cpu());
    }
  }

  double drop_probability_, scale_;
  double average_from_;
  std::string average_unit_;
  std::int64_t first_averaged_epoch_ = 0;
  std::vector<torch::Tensor> active_, dropped_, stash_;
  bool random_mask_ = false;
  std::vector<torch::Tensor> average_;
  std::int64_t averaged_ = 0;
};

void register_cigl(cigl::Registrar& r) {
  auto params = cigl::DynamicSparsity::params("erk");
  params.push_back(cigl::ParamSpec::number("dpnum", 100,
                                           "random mask drops 1/dpnum of the "
                                           "active weights each step (100 on "
                                           "CIFAR-10, 10 on CIFAR-100)")
                       .greater_than(1));
  params.push_back(cigl::ParamSpec::number("average_from", 0.8,
                                           "weight averaging covers the "
                                           "epochs after this one")
                       .min(0));
  params.push_back(cigl::ParamSpec::string("average_unit", "fraction",
                                           "unit of average_from: fraction "
                                           "of the epochs, or epochs")
                       .one_of({"fraction", "epochs"}));
  r.add<cigl::Method>(
      {"cigl",
       "CigL: RigL mask plus per-step random mask and weight averaging (Lei "
       "et al. 2023)",
       params},
      [](const cigl::Params& p) { return std::make_shared<CigL>(p); });
}

}  // namespace

CIGL_PLUGIN("cigl", "1.0.0", register_cigl)
