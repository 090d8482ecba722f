#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cigl/component.hpp"

namespace cigl {

struct CIGL_API LayerShape {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel() const;
};

/// Layer-wise density: maps the maskable layers and a global target density
/// to one density per layer, set once at initialisation.
class CIGL_API Distribution {
 public:
  virtual ~Distribution();
  virtual std::vector<double> densities(const std::vector<LayerShape>& layers,
                                        double density) const = 0;
};

/// The Erdos-Renyi family's shared step, with the RigL reference's
/// arithmetic (get_sparsities_erdos_renyi): scale raw per-layer
/// probabilities by one epsilon so the layers' ones add up to the target,
/// counting zeros as floor(sparsity * size). Whenever epsilon would push a
/// layer past density 1, every layer holding the largest raw probability
/// becomes dense and epsilon is solved again over the rest.
///
/// `fixed` maps layer indices to densities chosen beforehand (dense first
/// layer, per-layer overrides). With `fixed_in_budget` their ones count
/// against the target, so the global density stays on it; without, they
/// are left out of the budget entirely, as RigL's custom_sparsity_map is.
CIGL_API std::vector<double> scale_to_density(
    const std::vector<LayerShape>& layers, const std::vector<double>& raw,
    double density, const std::map<std::size_t, double>& fixed = {},
    bool fixed_in_budget = true);

template <>
struct ComponentTraits<Distribution> {
  static constexpr Kind kind = Kind::distribution;
  using Context = NoContext;
};

}  // namespace cigl
