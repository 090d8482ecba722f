// Metric `entropy`: the mean entropy of the predicted distribution,
// H(p) = -sum_c p_c log p_c in nats, over the evaluated examples; with
// `normalized`, divided by log(classes) so 0 is one-hot and 1 uniform.
// Unlike accuracy it needs no labels: it says how uncertain the model is,
// and next to ECE whether that uncertainty sits where it is wrong.
#include <cmath>
#include <limits>

#include <torch/types.h>  // tensors only: much faster to compile than torch.h

#include "cigl/metric.hpp"
#include "cigl/plugin.hpp"

namespace {

class Entropy : public cigl::Metric {
 public:
  explicit Entropy(bool normalized) : normalized_(normalized) {}

  void reset() override {
    sum_ = 0;
    count_ = 0;
    classes_ = 0;
  }

  // log_probs: {batch, classes}, float64 on the CPU, for every metric alike.
  void update(const torch::Tensor& log_probs,
              const torch::Tensor& /*labels*/) override {
    // special_entr(p) = -p log p, and 0 where p is 0 (where p * log p
    // would be 0 * -inf = NaN).
    sum_ += torch::special_entr(log_probs.exp()).sum().item<double>();
    count_ += log_probs.size(0);
    classes_ = log_probs.size(1);
  }

  double value() const override {
    if (count_ == 0) return std::numeric_limits<double>::quiet_NaN();
    const double mean = sum_ / static_cast<double>(count_);
    return normalized_ && classes_ > 1
               ? mean / std::log(static_cast<double>(classes_))
               : mean;
  }

 private:
  bool normalized_;
  double sum_ = 0;
  std::int64_t count_ = 0, classes_ = 0;
};

void register_entropy(cigl::Registrar& r) {
  r.add<cigl::Metric>(
      {"entropy",
       "mean entropy of the predicted distribution (nats)",
       {cigl::ParamSpec::boolean(
           "normalized", false,
           "divide by log(classes): 0 one-hot, 1 uniform")}},
      [](const cigl::Params& p) {
        return std::make_shared<Entropy>(p.boolean("normalized"));
      });
}

}  // namespace

CIGL_PLUGIN("entropy", "0.1.0", register_entropy)
