// Method `static`: a random mask drawn once at the target density from a
// layer-wise distribution, never updated. Inactive weights are zeroed once
// and their gradients masked every step: SGD then sees a zero gradient and
// a zero weight, so neither momentum (which starts at zero) nor weight
// decay can move them, and no per-step re-masking of weights is needed.
#include <ATen/CPUGeneratorImpl.h>

#include "cigl/distribution.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class Static : public cigl::MaskedMethod {
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

 private:
  double density_;
  cigl::ComponentRef distribution_;
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
