// Method `static`: a random mask drawn once at the target density from a
// layer-wise distribution, never updated. Inactive weights stay exactly
// zero: their gradients and momentum are masked, so neither momentum nor
// weight decay (which sees a zero weight) can move them.
#include <ATen/CPUGeneratorImpl.h>

#include "cigl/distribution.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/plugin.hpp"

namespace {

class Static : public cigl::Method {
 public:
  explicit Static(const cigl::Params& p)
      : density_(p.number("density")),
        distribution_(p.component("distribution")) {}

  void setup(cigl::TrainContext& context) override {
    masks_ = cigl::MaskSet(*context.model);
    auto distribution =
        context.components->create<cigl::Distribution>(distribution_);
    auto densities = distribution->densities(masks_.shapes(), density_);
    // Its own stream, so the mask does not depend on model initialisation.
    auto generator = at::make_generator<at::CPUGeneratorImpl>(
        context.seed * 1000003ULL + 17);
    masks_.randomize(densities, generator);
    masks_.apply_to_weights();
  }

  void after_backward(cigl::TrainContext&) override {
    masks_.apply_to_gradients();
  }

  void after_step(cigl::TrainContext& context) override {
    masks_.apply_to_weights();
    masks_.apply_to_optimizer_state(*context.optimizer);
  }

  void save(torch::serialize::OutputArchive& archive) const override {
    masks_.save(archive);
  }
  void load(torch::serialize::InputArchive& archive) override {
    masks_.load(archive);
  }

 private:
  double density_;
  cigl::ComponentRef distribution_;
  cigl::MaskSet masks_;
};

void register_static(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"static",
       "fixed random sparse mask at the target density",
       {cigl::ParamSpec::number("density", 0.1,
                                "fraction of maskable weights kept")
            .greater_than(0)
            .max(1),
        cigl::ParamSpec::component("distribution", cigl::Kind::distribution,
                                   "erk", "layer-wise density distribution")}},
      [](const cigl::Params& p) { return std::make_shared<Static>(p); });
}

}  // namespace

CIGL_PLUGIN("static", "1.0.0", register_static)
