// Optimizers `adam` (Kingma & Ba 2015, weight decay as an L2 term added to
// the gradient) and `adamw` (Loshchilov & Hutter 2019, decoupled weight
// decay: w <- w (1 - lr wd) before the Adam step).
//
// Per parameter: the two moments, and a step count for the bias
// correction. Sparse training resets single entries (a grown connection
// starts from fresh state), so the count is per parameter while no entry
// has been reset (the usual Adam, with scalar bias corrections), and per
// element from the first reset on: a regrown weight's first step is then
// the first step of a fresh Adam, lr * g / (|g| + eps), not one scaled by
// the stale tensor-wide correction (a factor up to
// (1 - beta1) / sqrt(1 - beta2) = 3.2 with the default betas).
//
// A pruned weight with zero gradient and zero moments gets the update
// 0 / (0 + eps) = 0 and, being zero, no decay either: it stays exactly 0.
#include <cmath>
#include <memory>
#include <string>
#include <unordered_map>

#include <torch/torch.h>

#include "cigl/optimizer.hpp"
#include "cigl/plugin.hpp"

namespace {

class Adam : public cigl::Optimizer {
 public:
  Adam(const cigl::Params& p, const cigl::OptimizerContext& context,
       bool decoupled)
      : lr_(p.number("lr")),
        beta1_(p.number("beta1")),
        beta2_(p.number("beta2")),
        eps_(p.number("eps")),
        decoupled_(decoupled) {
    auto groups = cigl::decay_groups(context, p.string("weight_decay_on"));
    const double decay = p.number("weight_decay");
    for (const auto& t : groups.decayed) add(t, decay);
    for (const auto& t : groups.undecayed) add(t, 0.0);
    current_lr_ = lr_;
  }

  double base_lr() const override { return lr_; }
  void set_lr(double lr) override { current_lr_ = lr; }

  void zero_grad() override {
    for (auto& s : states_) {
      if (s.param.grad().defined()) {
        s.param.mutable_grad().detach_();
        s.param.mutable_grad().zero_();
      }
    }
  }

  void step() override {
    torch::NoGradGuard no_grad;
    for (auto& s : states_) {
      if (!s.param.grad().defined()) continue;
      auto grad = s.param.grad();
      if (!s.exp_avg.defined()) {
        s.exp_avg = torch::zeros_like(s.param);
        s.exp_avg_sq = torch::zeros_like(s.param);
      }
      if (s.weight_decay != 0) {
        if (decoupled_) {
          s.param.mul_(1 - current_lr_ * s.weight_decay);
        } else {
          grad = grad.add(s.param, s.weight_decay);
        }
      }
      ++s.step;
      s.exp_avg.mul_(beta1_).add_(grad, 1 - beta1_);
      s.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
      if (!s.steps.defined()) {
        const double t = static_cast<double>(s.step);
        const double correction1 = 1 - std::pow(beta1_, t);
        const double correction2 = 1 - std::pow(beta2_, t);
        auto denom = (s.exp_avg_sq.sqrt() / std::sqrt(correction2)).add_(eps_);
        s.param.addcdiv_(s.exp_avg, denom, -current_lr_ / correction1);
      } else {
        s.steps.add_(1);
        auto correction1 = 1 - torch::pow(beta1_, s.steps);
        auto correction2 = 1 - torch::pow(beta2_, s.steps);
        auto denom = (s.exp_avg_sq / correction2).sqrt_().add_(eps_);
        s.param.addcdiv_(s.exp_avg / correction1, denom, -current_lr_);
      }
    }
  }

  void for_each_state(const torch::Tensor& param,
                      const std::function<void(torch::Tensor&)>& fn) override {
    State* s = find(param);
    if (!s || !s->exp_avg.defined()) return;
    fn(s->exp_avg);
    fn(s->exp_avg_sq);
  }

  void reset_state(const torch::Tensor& param,
                   const torch::Tensor& where) override {
    State* s = find(param);
    if (!s || !s->exp_avg.defined()) return;
    torch::NoGradGuard no_grad;
    const auto mask = where.to(param.device(), torch::kBool);
    s->exp_avg.masked_fill_(mask, 0);
    s->exp_avg_sq.masked_fill_(mask, 0);
    if (!s->steps.defined()) {
      s->steps = torch::full_like(param, static_cast<double>(s->step));
    }
    s->steps.masked_fill_(mask, 0);
  }

  /// The direction the CigL/RigL code's momentum growth ranks for Adam:
  /// m / (sqrt(v) + 1e-8) (sparselearning/core.py:562-565 of StevenBoys/CigL).
  torch::Tensor momentum(const torch::Tensor& param) override {
    State* s = find(param);
    if (!s || !s->exp_avg.defined()) return {};
    return s->exp_avg / (s->exp_avg_sq.sqrt() + 1e-8);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      const auto& s = states_[i];
      if (!s.exp_avg.defined()) continue;
      const std::string key = "param/" + std::to_string(i) + "/";
      archive.write(key + "exp_avg", s.exp_avg);
      archive.write(key + "exp_avg_sq", s.exp_avg_sq);
      archive.write(key + "step", torch::tensor(s.step));
      if (s.steps.defined()) archive.write(key + "steps", s.steps);
    }
  }

  void load(torch::serialize::InputArchive& archive) override {
    for (std::size_t i = 0; i < states_.size(); ++i) {
      auto& s = states_[i];
      const std::string key = "param/" + std::to_string(i) + "/";
      torch::Tensor exp_avg, exp_avg_sq, step, steps;
      if (!archive.try_read(key + "exp_avg", exp_avg)) {
        s.exp_avg = s.exp_avg_sq = s.steps = torch::Tensor();
        s.step = 0;
        continue;
      }
      archive.read(key + "exp_avg_sq", exp_avg_sq);
      archive.read(key + "step", step);
      const auto device = s.param.device();
      s.exp_avg = exp_avg.to(device);
      s.exp_avg_sq = exp_avg_sq.to(device);
      s.step = step.item<std::int64_t>();
      s.steps = archive.try_read(key + "steps", steps) ? steps.to(device)
                                                       : torch::Tensor();
    }
  }

 private:
  struct State {
    torch::Tensor param;
    double weight_decay = 0;
    torch::Tensor exp_avg, exp_avg_sq;
    std::int64_t step = 0;
    torch::Tensor steps;  ///< per element, once an entry has been reset
  };

  void add(const torch::Tensor& param, double weight_decay) {
    index_[param.unsafeGetTensorImpl()] = states_.size();
    states_.push_back({param, weight_decay, {}, {}, 0, {}});
  }
  State* find(const torch::Tensor& param) {
    auto it = index_.find(param.unsafeGetTensorImpl());
    return it == index_.end() ? nullptr : &states_[it->second];
  }

  double lr_, beta1_, beta2_, eps_;
  bool decoupled_;
  double current_lr_ = 0;
  std::vector<State> states_;  ///< weights first, then the undecayed ones
  std::unordered_map<const void*, std::size_t> index_;
};

std::vector<cigl::ParamSpec> adam_params(double weight_decay) {
  auto params = cigl::optimizer_params(1e-3, weight_decay);
  params.push_back(
      cigl::ParamSpec::number("beta1", 0.9, "decay of the first moment")
          .min(0)
          .max(0.999999));
  params.push_back(
      cigl::ParamSpec::number("beta2", 0.999, "decay of the second moment")
          .min(0)
          .max(0.999999));
  params.push_back(
      cigl::ParamSpec::number("eps", 1e-8, "added to the denominator")
          .greater_than(0));
  return params;
}

void register_adam(cigl::Registrar& r) {
  r.add<cigl::Optimizer>(
      {"adam", "Adam; weight decay as an L2 term in the gradient",
       adam_params(0.0)},
      [](const cigl::Params& p, const cigl::OptimizerContext& c) {
        return std::make_shared<Adam>(p, c, /*decoupled=*/false);
      });
  r.add<cigl::Optimizer>(
      {"adamw", "AdamW: Adam with decoupled weight decay", adam_params(0.01)},
      [](const cigl::Params& p, const cigl::OptimizerContext& c) {
        return std::make_shared<Adam>(p, c, /*decoupled=*/true);
      });
}

}  // namespace

CIGL_PLUGIN("adam", "1.0.0", register_adam)
