// Method `gmp` (gradual magnitude pruning, Zhu & Gupta 2017): start dense
// and every `update_interval` steps from `begin` to `end` prune each layer
// by smallest magnitude to the sparsity of the cubic schedule
//   s_t = s_f * (1 - (1 - (t - begin) / (end - begin))^3),
// where s_f is the layer's final sparsity from the distribution (uniform
// by default, as in the paper). The last pruning lands exactly on `end`
// (at the latest on the run's last step); the mask then stays fixed.
#include <algorithm>
#include <cmath>

#include "cigl/distribution.hpp"
#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class Gmp : public cigl::MaskedMethod {
 public:
  explicit Gmp(const cigl::Params& p)
      : density_(p.number("density")),
        distribution_(p.component("distribution")),
        interval_(p.integer("update_interval")),
        begin_value_(p.number("begin")),
        end_value_(p.number("end")),
        unit_(p.string("timing_unit")) {
    if (unit_ == "fraction" && (begin_value_ > 1 || end_value_ > 1)) {
      p.fail("end", "is a fraction of training, so at most 1");
    }
  }

  void setup(cigl::TrainContext& context) override {
    masks_ = cigl::MaskSet(*context.model);
    final_densities_ =
        context.components->create<cigl::Distribution>(distribution_)
            ->densities(masks_.shapes(), density_);
    begin_ = cigl::timing_to_step(begin_value_, unit_, context);
    end_ = std::min(cigl::timing_to_step(end_value_, unit_, context),
                    context.total_steps - 1);
    begin_ = std::min(begin_, end_);
  }

  // Dense until `begin`, then as sparse as the schedule has pruned; a
  // layer's FLOPs scale with its density, so the forward pass at global
  // sparsity s costs about f_D - (f_D - f_S) * s / s_final. Averaged over
  // the run's steps; the pruning steps themselves are not counted.
  double training_flops(const cigl::ForwardFlops& f,
                        const cigl::TrainContext& context) const override {
    const auto total = std::max<std::int64_t>(1, context.total_steps);
    double sum = 0;
    for (std::int64_t t = 0; t < total; ++t) {
      sum += 1.0 - remaining_fraction(t);
    }
    const double mean_pruned = sum / static_cast<double>(total);
    return 3 * (f.dense - (f.dense - f.sparse) * mean_pruned);
  }

  bool topology_update_due(const cigl::TrainContext& context) const override {
    const auto t = context.step;
    if (t < begin_ || t > end_) return false;
    return (t - begin_) % interval_ == 0 || t == end_;
  }

  bool update_topology(cigl::TrainContext& context) override {
    torch::NoGradGuard no_grad;
    const double remaining = remaining_at(context.step);
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      const double final_sparsity = 1.0 - final_densities_[i];
      const double sparsity = final_sparsity * (1.0 - remaining);
      const auto& weight = masks_.weight(i);
      const auto target = cigl::ones_for_density(weight.numel(), 1 - sparsity);
      const auto prune = masks_.active(i) - target;
      if (prune <= 0) continue;
      auto mask = masks_.mask(i).reshape(-1).clone();
      mask.index_fill_(0, cigl::smallest_among(weight.abs(), mask, prune),
                       false);
      masks_.replace(i, mask.view_as(weight), *context.optimizer);
    }
    return true;  // pruning does not replace the step's update
  }

 private:
  /// (1 - progress)^3 of the cubic schedule at a pruning step.
  double remaining_at(std::int64_t step) const {
    const double span =
        static_cast<double>(std::max<std::int64_t>(1, end_ - begin_));
    const double progress =
        std::min(1.0, static_cast<double>(step - begin_) / span);
    return std::pow(1.0 - progress, 3);
  }

  /// The same share in force during step t: that of the last pruning
  /// step at or before t (1: nothing pruned yet).
  double remaining_fraction(std::int64_t t) const {
    if (t < begin_) return 1.0;
    const auto last =
        t >= end_ ? end_ : begin_ + (t - begin_) / interval_ * interval_;
    return remaining_at(last);
  }

  double density_;
  cigl::ComponentRef distribution_;
  std::int64_t interval_;
  double begin_value_, end_value_;
  std::string unit_;
  std::int64_t begin_ = 0, end_ = 0;
  std::vector<double> final_densities_;
};

void register_gmp(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"gmp",
       "gradual magnitude pruning, cubic schedule (Zhu & Gupta 2017)",
       {cigl::ParamSpec::number("density", 0.1,
                                "final fraction of maskable "
                                "weights kept")
            .greater_than(0)
            .max(1),
        cigl::ParamSpec::component("distribution", cigl::Kind::distribution,
                                   "uniform",
                                   "final layer-wise density distribution"),
        cigl::ParamSpec::integer("update_interval", 100,
                                 "steps between pruning steps")
            .min(1),
        cigl::ParamSpec::number("begin", 0.0,
                                "first pruning, in timing_unit (by default "
                                "a fraction of training)")
            .min(0),
        cigl::ParamSpec::number("end", 0.75,
                                "last pruning, in timing_unit (by default a "
                                "fraction of training)")
            .min(0),
        cigl::ParamSpec::string("timing_unit", "fraction",
                                "unit of begin and end: fraction of "
                                "training, steps or epochs")
            .one_of({"fraction", "steps", "epochs"})}},
      [](const cigl::Params& p) { return std::make_shared<Gmp>(p); });
}

}  // namespace

CIGL_PLUGIN("gmp", "1.0.0", register_gmp)
