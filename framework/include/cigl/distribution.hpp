#pragma once
#include <cstdint>
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

template <>
struct ComponentTraits<Distribution> {
  static constexpr Kind kind = Kind::distribution;
  using Context = NoContext;
};

}  // namespace cigl
