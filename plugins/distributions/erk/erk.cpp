// Distribution `erk` (Erdos-Renyi-Kernel, Evci et al. 2020): layer density
// proportional to (sum of dims / product of dims)^power, scaled by one
// epsilon so the ones add up to density * total. A layer that would exceed
// density 1 is made dense and epsilon is solved again over the rest,
// exactly as the RigL reference does.
#include <algorithm>
#include <set>

#include "cigl/distribution.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace {

class Erk : public cigl::Distribution {
 public:
  explicit Erk(const cigl::Params& p) : power_(p.number("erk_power_scale")) {}

  std::vector<double> densities(const std::vector<cigl::LayerShape>& layers,
                                double density) const override {
    const std::size_t n = layers.size();
    // Raw probabilities relative to the largest: epsilon absorbs any common
    // factor, and a large power then cannot underflow them all to zero.
    std::vector<double> base(n), raw(n);
    for (std::size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (auto d : layers[i].shape) sum += static_cast<double>(d);
      base[i] = sum / static_cast<double>(layers[i].numel());
    }
    const double largest =
        n ? *std::max_element(base.begin(), base.end()) : 1.0;
    for (std::size_t i = 0; i < n; ++i) {
      raw[i] = std::pow(base[i] / largest, power_);
    }
    std::set<std::size_t> dense;
    double epsilon = 0;
    for (;;) {
      // Budget of ones for the non-dense layers: their share of the
      // target, minus the zeros the dense layers fail to contribute.
      double rhs = 0, divisor = 0, max_raw = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const double size = static_cast<double>(layers[i].numel());
        if (dense.count(i)) {
          rhs -= size * (1 - density);
        } else {
          rhs += size * density;
          divisor += raw[i] * size;
          max_raw = std::max(max_raw, raw[i]);
        }
      }
      if (divisor == 0) break;  // every layer dense
      epsilon = rhs / divisor;
      if (epsilon * max_raw <= 1) break;
      for (std::size_t i = 0; i < n; ++i) {
        if (!dense.count(i) && raw[i] == max_raw) dense.insert(i);
      }
    }
    std::vector<double> out(n);
    double ones = 0, total = 0;
    for (std::size_t i = 0; i < n; ++i) {
      out[i] = dense.count(i) ? 1.0 : std::clamp(epsilon * raw[i], 0.0, 1.0);
      ones += out[i] * static_cast<double>(layers[i].numel());
      total += static_cast<double>(layers[i].numel());
    }
    // The global density must land within one weight per layer of the
    // target; extreme power scales can make that impossible.
    if (std::abs(ones - density * total) > static_cast<double>(n)) {
      throw std::invalid_argument(
          "erk cannot reach density " + std::to_string(density) +
          " with erk_power_scale " + std::to_string(power_) + " (gets " +
          std::to_string(ones / total) + ")");
    }
    return out;
  }

 private:
  double power_;
};

void register_erk(cigl::Registrar& r) {
  r.add<cigl::Distribution>(
      {"erk",
       "Erdos-Renyi-Kernel: denser where a layer has few weights per unit",
       {cigl::ParamSpec::number("erk_power_scale", 1.0,
                                "exponent on the raw ERK probabilities; 0 "
                                "gives uniform")
            .min(0)}},
      [](const cigl::Params& p) { return std::make_shared<Erk>(p); });
}

}  // namespace

CIGL_PLUGIN("erk", "1.0.0", register_erk)
