// Distributions `er` (Erdos-Renyi, Mocanu et al. 2018) and `erk`
// (Erdos-Renyi-Kernel, Evci et al. 2020). A layer's density is
// proportional to
//   er:  (n_in + n_out) / (n_in * n_out), from the first two dimensions;
//   erk: ((sum of all dimensions) / (product of all dimensions))^power,
// scaled by one epsilon as the RigL reference does (scale_to_density).
#include <algorithm>
#include <cmath>

#include "cigl/distribution.hpp"
#include "cigl/plugin.hpp"

namespace {

enum class Family { er, erk };

class ErdosRenyi : public cigl::Distribution {
 public:
  ErdosRenyi(Family family, const cigl::Params& p)
      : family_(family),
        power_(family == Family::erk ? p.number("erk_power_scale") : 1.0),
        dense_first_(p.boolean("dense_first_layer")),
        dense_last_(p.boolean("dense_last_layer")),
        overrides_(p.number_map("overrides")),
        fixed_in_budget_(p.boolean("fixed_in_budget")),
        params_(p) {}

  std::vector<double> densities(const std::vector<cigl::LayerShape>& layers,
                                double density) const override {
    const std::size_t n = layers.size();
    // As the reference computes them, bit for bit; only if the power
    // under- or overflows them, relative to the largest instead (epsilon
    // absorbs a common factor, so the densities are the same).
    std::vector<double> base(n), raw(n);
    for (std::size_t i = 0; i < n; ++i) base[i] = raw_probability(layers[i]);
    bool representable = true;
    for (std::size_t i = 0; i < n; ++i) {
      raw[i] = std::pow(base[i], power_);
      representable &= std::isnormal(raw[i]) || power_ == 0;
    }
    if (!representable) {
      const double largest = *std::max_element(base.begin(), base.end());
      for (std::size_t i = 0; i < n; ++i) {
        raw[i] = std::pow(base[i] / largest, power_);
      }
    }

    std::map<std::size_t, double> fixed;
    if (n && dense_first_) fixed[0] = 1.0;
    if (n && dense_last_) fixed[n - 1] = 1.0;
    for (const auto& [layer_name, d] : overrides_) {
      // Named apart: a lambda may not capture a structured binding before
      // C++20 (clang refuses it).
      const std::string& name = layer_name;
      auto it = std::find_if(layers.begin(), layers.end(),
                             [&](const auto& l) { return l.name == name; });
      if (it == layers.end()) {
        std::string known;
        for (const auto& l : layers)
          known += (known.empty() ? "" : ", ") + l.name;
        params_.fail("overrides", "no maskable layer '" + name +
                                      "' (layers: " + known + ")");
      }
      fixed[static_cast<std::size_t>(it - layers.begin())] = d;
    }
    auto out =
        cigl::scale_to_density(layers, raw, density, fixed, fixed_in_budget_);
    check_budget(layers, out, density, fixed.empty() || fixed_in_budget_);
    return out;
  }

 private:
  double raw_probability(const cigl::LayerShape& layer) const {
    const auto& s = layer.shape;
    if (family_ == Family::erk) {
      double sum = 0;
      for (auto d : s) sum += static_cast<double>(d);
      return sum / static_cast<double>(layer.numel());
    }
    // PyTorch layout: {out, in, ...}.
    const double out = static_cast<double>(s.at(0));
    const double in = s.size() > 1 ? static_cast<double>(s[1]) : 1.0;
    return (in + out) / (in * out);
  }

  // The global density must land within one weight per layer of the
  // target; extreme settings (a huge power, overrides that use up the
  // budget) can make that impossible, and a silent miss would be worse.
  void check_budget(const std::vector<cigl::LayerShape>& layers,
                    const std::vector<double>& out, double density,
                    bool must_match) const {
    if (!must_match) return;
    double ones = 0, total = 0;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      ones += out[i] * static_cast<double>(layers[i].numel());
      total += static_cast<double>(layers[i].numel());
    }
    if (std::abs(ones - density * total) >
        static_cast<double>(layers.size()) + 1) {
      throw std::invalid_argument(
          "cannot reach density " + std::to_string(density) + " (gets " +
          std::to_string(ones / total) +
          "); check erk_power_scale and the fixed layers");
    }
  }

  Family family_;
  double power_;
  bool dense_first_, dense_last_;
  cigl::NumberMap overrides_;
  bool fixed_in_budget_;
  cigl::Params params_;
};

std::vector<cigl::ParamSpec> common_params() {
  return {
      cigl::ParamSpec::boolean("dense_first_layer", false,
                               "keep the first maskable layer dense"),
      cigl::ParamSpec::boolean("dense_last_layer", false,
                               "keep the last maskable layer dense"),
      cigl::ParamSpec::number_map("overrides",
                                  "fixed densities by layer name, e.g. { "
                                  "\"conv1.weight\" = 1.0 }")
          .min(0)
          .max(1),
      cigl::ParamSpec::boolean(
          "fixed_in_budget", true,
          "fixed layers' weights count against the target (global density "
          "stays on it); false leaves them out, as RigL's custom map does"),
  };
}

void register_erdos_renyi(cigl::Registrar& r) {
  r.add<cigl::Distribution>(
      {"er", "Erdos-Renyi: density ~ (n_in + n_out) / (n_in n_out)",
       common_params()},
      [](const cigl::Params& p) {
        return std::make_shared<ErdosRenyi>(Family::er, p);
      });
  auto erk_params = common_params();
  erk_params.insert(
      erk_params.begin(),
      cigl::ParamSpec::number("erk_power_scale", 1.0,
                              "exponent on the raw ERK probabilities; 0 "
                              "gives uniform")
          .min(0));
  r.add<cigl::Distribution>(
      {"erk",
       "Erdos-Renyi-Kernel: density ~ sum(shape) / prod(shape), as in RigL",
       erk_params},
      [](const cigl::Params& p) {
        return std::make_shared<ErdosRenyi>(Family::erk, p);
      });
}

}  // namespace

CIGL_PLUGIN("erdos_renyi", "1.1.0", register_erdos_renyi)
