// Method `rigl` (Evci et al. 2020, "Rigging the Lottery"): every
// update_interval steps until `end`, each layer drops the k active weights
// of smallest magnitude and grows the k inactive connections (inactive
// after the drop, so a dropped one may come back) with the largest dense
// gradient, k = floor(drop_fraction * active). New connections start at
// zero with zero momentum. As in the reference, the update step applies no
// optimizer update. Between updates gradients of inactive weights are
// masked. With update_rule = "sparselearning" the update is the one of the
// sparselearning code the CigL paper builds on (cigl/sparse.hpp).
#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class RigL : public cigl::DynamicSparseMethod {
 public:
  explicit RigL(const cigl::Params& p) : DynamicSparseMethod(p, 101) {}

  bool update_topology(cigl::TrainContext& context) override {
    sparse_.drop_and_grow(context, [&](std::size_t i) {
      return sparse_.masks().weight(i).grad().abs();
    });
    return false;
  }
};

void register_rigl(cigl::Registrar& r) {
  auto params = cigl::DynamicSparsity::params("erk");
  params.push_back(cigl::DynamicSparsity::update_rule_param());
  r.add<cigl::Method>(
      {"rigl", "RigL: magnitude drop, dense-gradient growth (Evci et al. 2020)",
       params},
      [](const cigl::Params& p) { return std::make_shared<RigL>(p); });
}

}  // namespace

CIGL_PLUGIN("rigl", "1.0.0", register_rigl)
