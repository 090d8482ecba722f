// Method `snip` (Lee et al. 2019): one-shot pruning at initialisation.
// Scores |w * dL/dw| on the first `batches` training batches (gradients
// summed), keeps the top `density` fraction of all maskable weights
// globally, then trains with that mask fixed (like `static`).
#include <torch/nn/functional/loss.h>

#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

class Snip : public cigl::MaskedMethod {
 public:
  explicit Snip(const cigl::Params& p)
      : density_(p.number("density")), batches_(p.integer("batches")) {}

  void setup(cigl::TrainContext& context) override {
    masks_ = cigl::MaskSet(*context.model);
    auto& model = *context.model;
    model.zero_grad();
    // In a data-parallel run the ranks share the scored batches out and
    // sum their gradients, so every rank scores (and masks) alike.
    cigl::Collectives& ranks = *context.collectives;
    std::int64_t batch = 0;
    context.for_each_train_batch(
        [&](const torch::Tensor& inputs, const torch::Tensor& labels) {
          const std::int64_t b = batch++;
          if (b >= batches_ || !ranks.owns(b)) return;
          torch::nn::functional::cross_entropy(model.forward(inputs), labels)
              .backward();
        });
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> grads;
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      const auto& w = masks_.weight(i);
      grads.push_back(w.grad().defined() ? w.grad() : torch::zeros_like(w));
    }
    ranks.all_reduce(grads);
    std::vector<torch::Tensor> scores;
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      const auto& w = masks_.weight(i);
      scores.push_back((w * grads[i]).abs().reshape(-1).to(torch::kDouble));
    }
    auto all = torch::cat(scores);
    const auto keep = cigl::ones_for_density(all.numel(), density_);
    auto chosen = torch::zeros({all.numel()}, torch::kBool);
    chosen.index_fill_(
        0, cigl::largest_among(all, torch::ones_like(chosen), keep), true);
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < masks_.size(); ++i) {
      const auto& w = masks_.weight(i);
      masks_.set_mask(i, chosen.narrow(0, offset, w.numel()).view_as(w));
      offset += w.numel();
    }
    masks_.apply_to_weights();
    model.zero_grad();
  }

 private:
  double density_;
  std::int64_t batches_;
};

void register_snip(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"snip",
       "SNIP: one-shot pruning at init by |w * grad| (Lee et al. 2019)",
       {cigl::ParamSpec::number("density", 0.1,
                                "fraction of maskable weights kept")
            .greater_than(0)
            .max(1),
        cigl::ParamSpec::integer("batches", 1,
                                 "training batches (of eval_batch_size) "
                                 "scored")
            .min(1)}},
      [](const cigl::Params& p) { return std::make_shared<Snip>(p); });
}

}  // namespace

CIGL_PLUGIN("snip", "1.0.0", register_snip)
