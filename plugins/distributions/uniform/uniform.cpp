// Distribution `uniform`: every maskable layer at the target density.
// Following RigL, layers kept dense by `dense_first_layer` or
// `dense_last_layer` are NOT compensated for: the other layers keep the
// target density, so the global density ends slightly above it.
#include "cigl/distribution.hpp"
#include "cigl/plugin.hpp"

namespace {

class Uniform : public cigl::Distribution {
 public:
  explicit Uniform(const cigl::Params& p)
      : dense_first_(p.boolean("dense_first_layer")),
        dense_last_(p.boolean("dense_last_layer")) {}

  std::vector<double> densities(const std::vector<cigl::LayerShape>& layers,
                                double density) const override {
    std::vector<double> out(layers.size(), density);
    if (!out.empty() && dense_first_) out.front() = 1.0;
    if (!out.empty() && dense_last_) out.back() = 1.0;
    return out;
  }

 private:
  bool dense_first_, dense_last_;
};

void register_uniform(cigl::Registrar& r) {
  r.add<cigl::Distribution>(
      {"uniform",
       "the same density in every maskable layer",
       {cigl::ParamSpec::boolean("dense_first_layer", false,
                                 "keep the input layer dense (RigL does)"),
        cigl::ParamSpec::boolean("dense_last_layer", false,
                                 "keep the classifier layer dense")}},
      [](const cigl::Params& p) { return std::make_shared<Uniform>(p); });
}

}  // namespace

CIGL_PLUGIN("uniform", "1.0.0", register_uniform)
