// Method `set` (Mocanu et al. 2018, Sparse Evolutionary Training): each
// topology update drops the k active weights of smallest magnitude and
// grows k connections chosen uniformly at random among the inactive ones
// (after the drop). New connections start at zero (or, with
// grow_init = "random", at a normal draw with the layer's current standard
// deviation of active weights); their momentum is reset. Erdos-Renyi
// distribution by default.
#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class Set : public cigl::DynamicSparseMethod {
 public:
  explicit Set(const cigl::Params& p)
      : DynamicSparseMethod(p, 102),
        random_init_(p.string("grow_init") == "random") {}

  // Random growth needs no gradient of inactive weights: every step is a
  // sparse forward and backward pass.
  bool needs_dense_gradient(const cigl::TrainContext&) const override {
    return false;
  }
  double training_flops(const cigl::ForwardFlops& f,
                        const cigl::TrainContext&) const override {
    return 3 * f.sparse;
  }

  bool update_topology(cigl::TrainContext& context) override {
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    std::vector<torch::Tensor> before;
    std::vector<double> spread;
    for (std::size_t i = 0; i < masks.size(); ++i) {
      before.push_back(masks.mask(i).clone());
      spread.push_back(
          random_init_
              ? masks.weight(i).masked_select(before[i]).std().item<double>()
              : 0.0);
    }
    // Uniformly random growth: random scores, the largest win.
    sparse_.drop_and_grow(context, [&](std::size_t i) {
      return torch::rand({masks.weight(i).numel()}, sparse_.generator(),
                         torch::kDouble);
    });
    if (!random_init_) return false;
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      auto grown = masks.mask(i).logical_and(before[i].logical_not());
      auto init = torch::randn(weight.sizes(), sparse_.generator())
                      .mul_(spread[i])
                      .to(weight.device(), weight.scalar_type());
      weight.copy_(torch::where(grown, init, weight));
    }
    return false;
  }

 private:
  bool random_init_;
};

void register_set(cigl::Registrar& r) {
  auto params = cigl::DynamicSparsity::params("er");
  params.push_back(cigl::ParamSpec::string("grow_init", "zeros",
                                           "initial value of grown weights")
                       .one_of({"zeros", "random"}));
  r.add<cigl::Method>(
      {"set", "SET: magnitude drop, random growth (Mocanu et al. 2018)",
       params},
      [](const cigl::Params& p) { return std::make_shared<Set>(p); });
}

}  // namespace

CIGL_PLUGIN("set", "1.0.0", register_set)
