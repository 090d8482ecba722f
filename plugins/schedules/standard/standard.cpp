// Schedules `constant`, `cosine`, `step_decay`, `multistep` and `linear`:
// a value over the steps of a run, scaled from a base value (the learning
// rate, or a drop fraction). Every one takes an optional linear warm-up.
#include <algorithm>
#include <cmath>

#include "cigl/plugin.hpp"
#include "cigl/schedule.hpp"

namespace {

constexpr double kPi = 3.14159265358979323846;

class Base : public cigl::Schedule {
 public:
  Base(const cigl::Params& p, const cigl::ScheduleContext& c)
      : base_(c.base_value),
        total_(std::max<std::int64_t>(1, c.total_steps)),
        unit_(p.string("unit")),
        warmup_(cigl::to_steps(p.number("warmup"), unit_.c_str(), c)) {}

  double value(std::int64_t step) const override {
    // Linear warm-up from base/warmup to base over the first steps.
    if (step < warmup_) {
      return base_ * static_cast<double>(step + 1) /
             static_cast<double>(warmup_);
    }
    return base_ * factor(step);
  }

 protected:
  virtual double factor(std::int64_t step) const = 0;
  /// Share of the post-warm-up steps done, in [0, 1].
  double progress(std::int64_t step) const {
    const double span =
        static_cast<double>(std::max<std::int64_t>(1, total_ - warmup_));
    return std::min(1.0, static_cast<double>(step - warmup_) / span);
  }
  double base_;
  std::int64_t total_;
  std::string unit_;
  std::int64_t warmup_;
};

class Constant : public Base {
  using Base::Base;
  double factor(std::int64_t) const override { return 1.0; }
};

/// 0.5 * (1 + cos(pi * t / T)) after warm-up, floored at `min_factor`.
class Cosine : public Base {
 public:
  Cosine(const cigl::Params& p, const cigl::ScheduleContext& c)
      : Base(p, c), min_factor_(p.number("min_factor")) {}
  double factor(std::int64_t step) const override {
    return min_factor_ +
           (1 - min_factor_) * 0.5 * (1 + std::cos(kPi * progress(step)));
  }

 private:
  double min_factor_;
};

/// Linear from 1 at the end of warm-up to `end_factor` at the last step.
class Linear : public Base {
 public:
  Linear(const cigl::Params& p, const cigl::ScheduleContext& c)
      : Base(p, c), end_factor_(p.number("end_factor")) {}
  double factor(std::int64_t step) const override {
    return 1 + (end_factor_ - 1) * progress(step);
  }

 private:
  double end_factor_;
};

/// Multiplies by `factor` every `every` (steps or epochs) after warm-up:
/// the piecewise-constant decay of the CigL recipe.
class StepDecay : public Base {
 public:
  StepDecay(const cigl::Params& p, const cigl::ScheduleContext& c)
      : Base(p, c),
        every_(std::max<std::int64_t>(
            1, cigl::to_steps(p.number("every"), unit_.c_str(), c))),
        gamma_(p.number("factor")) {}
  double factor(std::int64_t step) const override {
    return std::pow(gamma_, static_cast<double>((step - warmup_) / every_));
  }

 private:
  std::int64_t every_;
  double gamma_;
};

/// Multiplies by `factor` at each milestone (steps or epochs from start).
class MultiStep : public Base {
 public:
  MultiStep(const cigl::Params& p, const cigl::ScheduleContext& c)
      : Base(p, c), gamma_(p.number("factor")) {
    for (double m : p.numbers("milestones")) {
      milestones_.push_back(cigl::to_steps(m, unit_.c_str(), c));
    }
    std::sort(milestones_.begin(), milestones_.end());
  }
  double factor(std::int64_t step) const override {
    auto passed =
        std::upper_bound(milestones_.begin(), milestones_.end(), step) -
        milestones_.begin();
    return std::pow(gamma_, static_cast<double>(passed));
  }

 private:
  std::vector<std::int64_t> milestones_;
  double gamma_;
};

std::vector<cigl::ParamSpec> with_common(std::vector<cigl::ParamSpec> specs) {
  specs.push_back(cigl::ParamSpec::string("unit", "epochs",
                                          "unit of warmup and other durations")
                      .one_of({"epochs", "steps"}));
  specs.push_back(
      cigl::ParamSpec::number("warmup", 0, "linear warm-up length").min(0));
  return specs;
}

template <class T>
void add(cigl::Registrar& r, const char* name, const char* doc,
         std::vector<cigl::ParamSpec> specs) {
  r.add<cigl::Schedule>(
      {name, doc, with_common(std::move(specs))},
      [](const cigl::Params& p, const cigl::ScheduleContext& c) {
        return std::make_shared<T>(p, c);
      });
}

void register_schedules(cigl::Registrar& r) {
  add<Constant>(r, "constant", "the base value throughout", {});
  add<Cosine>(r, "cosine", "cosine decay from the base value",
              {cigl::ParamSpec::number("min_factor", 0,
                                       "final value as a share of the base")
                   .min(0)
                   .max(1)});
  add<Linear>(r, "linear", "linear decay from the base value",
              {cigl::ParamSpec::number("end_factor", 0,
                                       "final value as a share of the base")
                   .min(0)});
  add<StepDecay>(
      r, "step_decay", "multiply by `factor` every `every` steps/epochs",
      {cigl::ParamSpec::number("every", 30, "decay interval").greater_than(0),
       cigl::ParamSpec::number("factor", 0.1, "decay factor")
           .greater_than(0)
           .max(1)});
  add<MultiStep>(r, "multistep", "multiply by `factor` at each milestone",
                 {cigl::ParamSpec::numbers("milestones", {},
                                           "steps/epochs where the value "
                                           "decays")
                      .min(0),
                  cigl::ParamSpec::number("factor", 0.1, "decay factor")
                      .greater_than(0)
                      .max(1)});
}

}  // namespace

CIGL_PLUGIN("standard_schedules", "1.0.0", register_schedules)
