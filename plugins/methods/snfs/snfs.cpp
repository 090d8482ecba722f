// Method `snfs` (Dettmers & Zettlemoyer 2019, sparse momentum): gradients
// stay dense, so the momentum of every weight, active or not, is an
// exponentially smoothed gradient. At a topology update each layer drops
// its k_i = floor(drop_fraction * active_i) smallest-magnitude weights;
// the total K = sum k_i is then regrown across layers in proportion to
// each layer's mean momentum magnitude over its active weights (capped at
// the layer's free slots, the excess passed on), each layer growing where
// the momentum of its inactive connections is largest. New weights start
// at zero and keep their momentum (it is what chose them). The total count
// of ones is unchanged; per-layer counts move.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "cigl/plugin.hpp"
#include "cigl/sparse.hpp"

namespace {

/// Splits `total` into integer shares proportional to `weights`, none above
/// its `cap`, summing to `total` (largest remainders get the leftovers).
std::vector<std::int64_t> redistribute(std::int64_t total,
                                       const std::vector<double>& weights,
                                       const std::vector<std::int64_t>& cap) {
  const std::size_t n = weights.size();
  std::vector<std::int64_t> share(n, 0);
  std::vector<bool> full(n, false);
  std::int64_t left = total;
  while (left > 0) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!full[i]) sum += weights[i];
    }
    if (sum <= 0) {  // no signal left: spread evenly over free layers
      for (std::size_t i = 0; i < n && left > 0; ++i) {
        auto take = std::min(left, cap[i] - share[i]);
        share[i] += take;
        left -= take;
      }
      break;
    }
    std::vector<std::pair<double, std::size_t>> remainders;
    std::int64_t given = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (full[i]) continue;
      const double exact = static_cast<double>(left) * weights[i] / sum;
      auto whole = static_cast<std::int64_t>(std::floor(exact));
      whole = std::min(whole, cap[i] - share[i]);
      share[i] += whole;
      given += whole;
      remainders.emplace_back(exact - std::floor(exact), i);
    }
    left -= given;
    std::sort(remainders.rbegin(), remainders.rend());
    for (const auto& [fraction, i] : remainders) {
      if (left == 0) break;
      if (share[i] < cap[i]) {
        ++share[i];
        --left;
      }
    }
    bool progress = given > 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (!full[i] && share[i] >= cap[i]) {
        full[i] = true;
        progress = true;
      }
    }
    if (!progress) break;
  }
  return share;
}

class Snfs : public cigl::DynamicSparseMethod {
 public:
  explicit Snfs(const cigl::Params& p) : DynamicSparseMethod(p, 103) {}

  // The momentum of every weight needs the dense gradient at every step.
  bool needs_dense_gradient(const cigl::TrainContext&) const override {
    return true;
  }
  double training_flops(const cigl::ForwardFlops& f,
                        const cigl::TrainContext&) const override {
    return 2 * f.sparse + f.dense;
  }

  bool update_topology(cigl::TrainContext& context) override {
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    const std::size_t n = masks.size();
    std::vector<torch::Tensor> momentum(n), mask(n);
    std::vector<double> signal(n, 0);
    std::vector<std::int64_t> free_slots(n);
    std::int64_t removed = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const auto& weight = masks.weight(i);
      momentum[i] = context.optimizer->momentum(weight);
      if (!momentum[i].defined()) return true;  // no momentum yet
      auto active = masks.mask(i);
      signal[i] = momentum[i].abs().masked_select(active).mean().item<double>();
      if (!std::isfinite(signal[i])) signal[i] = 0;
      const auto k = sparse_.drop_count(i, context.step);
      mask[i] = active.reshape(-1).clone();
      mask[i].index_fill_(0, cigl::smallest_among(weight.abs(), mask[i], k),
                          false);
      removed += k;
      free_slots[i] = weight.numel() - (masks.active(i) - k);
    }
    auto regrow = redistribute(removed, signal, free_slots);
    for (std::size_t i = 0; i < n; ++i) {
      mask[i].index_fill_(0,
                          cigl::largest_among(momentum[i].abs(),
                                              mask[i].logical_not(), regrow[i]),
                          true);
      sparse_.replace_mask(i, mask[i].view_as(masks.weight(i)),
                           *context.optimizer, /*reset_grown_state=*/false);
    }
    return false;
  }
  // Gradients stay dense (they feed the momentum); the weights are
  // re-masked after each step instead.
  void after_backward(cigl::TrainContext&) override {}
  void after_step(cigl::TrainContext&) override {
    sparse_.masks().apply_to_weights();
  }
};

void register_snfs(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"snfs",
       "sparse momentum: magnitude drop, momentum growth and redistribution "
       "(Dettmers & Zettlemoyer 2019)",
       cigl::DynamicSparsity::params("erk")},
      [](const cigl::Params& p) { return std::make_shared<Snfs>(p); });
}

}  // namespace

CIGL_PLUGIN("snfs", "1.0.0", register_snfs)
