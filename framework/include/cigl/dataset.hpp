#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/types.h>

#include "cigl/component.hpp"

namespace cigl {

/// Inputs (float, {n, input_shape...}) and labels (int64, {n}) in memory.
struct DataSplit {
  torch::Tensor inputs;
  torch::Tensor labels;
  std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

/// Shapes known without reading the data (for --inspect).
struct DatasetInfo {
  std::vector<std::int64_t> input_shape;
  std::int64_t num_classes = 0;
};

struct DataBundle {
  DataSplit train;
  DataSplit test;
};

class CIGL_API Dataset {
 public:
  virtual ~Dataset();
  virtual DatasetInfo info() const = 0;
  /// Reads everything into memory; throws DataError naming the bad file.
  virtual DataBundle load() = 0;
};

template <>
struct ComponentTraits<Dataset> {
  static constexpr Kind kind = Kind::dataset;
  using Context = NoContext;
};

}  // namespace cigl
