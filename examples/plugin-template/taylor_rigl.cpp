// Method `taylor_rigl`: RigL (Evci et al. 2020) with a different drop
// criterion. Every update_interval steps until `end`, each layer drops the
// k active weights of smallest first-order Taylor saliency |w * g| (the
// estimated change in loss if the weight were set to zero; Molchanov et
// al. 2019) instead of smallest |w|, and grows the k inactive connections
// with the largest |g|, as RigL does.
//
// Why not "grow by |g| * |w|": inactive weights are exactly zero here, so
// that score is 0 for every candidate. The saliency is used where it is
// informative: on the active weights, where a large weight with no
// gradient and a small one the loss depends on are told apart.
//
// Growth picks only among connections inactive before this update: a
// weight of small saliency often has a large gradient, and letting it be
// dropped and regrown at once would make the update a no-op for it.
//
// DynamicSparseMethod does the rest: the initial masks from the
// distribution, the update timetable and drop fraction, masking the
// gradients of inactive weights between updates, checkpoints.
#include <algorithm>

#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class TaylorRigL : public cigl::DynamicSparseMethod {
 public:
  // 9001: this method's random stream (the initial masks), apart from the
  // bundled methods' streams.
  explicit TaylorRigL(const cigl::Params& p) : DynamicSparseMethod(p, 9001) {}

  // Runs after backward with the dense gradients of this step.
  bool update_topology(cigl::TrainContext& context) override {
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      const auto w = weight.reshape(-1);
      const auto g = weight.grad().reshape(-1);
      const auto active = masks.mask(i).reshape(-1);
      const auto inactive = active.logical_not();
      const auto k = std::min(sparse_.drop_count(i, context.step),
                              inactive.sum().item<std::int64_t>());

      auto mask = active.clone();
      mask.index_fill_(0, cigl::smallest_among((w * g).abs(), active, k),
                       false);
      mask.index_fill_(0, cigl::largest_among(g.abs(), inactive, k), true);
      // New connections start at zero with zero momentum.
      sparse_.replace_mask(i, mask.view_as(weight), *context.optimizer);
    }
    return false;  // as RigL: the update step applies no optimizer step
  }
};

void register_taylor_rigl(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"taylor_rigl",
       "RigL with Taylor-saliency drop |w*g| and gradient growth |g|",
       // density, distribution, update_interval, begin, end, prune_rate...
       cigl::DynamicSparsity::params("erk")},
      [](const cigl::Params& p) { return std::make_shared<TaylorRigL>(p); });
}

}  // namespace

// The plugin's name and version (shown by --list-plugins) and its register
// function. This also stamps the plugin API version and build fingerprint.
CIGL_PLUGIN("taylor_rigl", "0.1.0", register_taylor_rigl)
