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
  /// Size of the training split as load() will return it (after any
  /// limit), or 0 if unknown; lets --inspect count training FLOPs for the
  /// real number of steps without reading the data.
  std::int64_t train_examples = 0;
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
  /// Training-time augmentation of one batch of inputs, already on the
  /// training device; the trainer calls it on every training batch and
  /// never on validation or test data. Draw randomness only from
  /// `generator` (seeded and checkpointed by the trainer; on the training
  /// device: draw with `.device(generator.device())` so a GPU step needs
  /// no host work), so runs repeat and resume bit-for-bit. See
  /// cigl/augment.hpp. The default returns `inputs` unchanged.
  virtual torch::Tensor augment(torch::Tensor inputs,
                                torch::Generator& generator) const;
};

template <>
struct ComponentTraits<Dataset> {
  static constexpr Kind kind = Kind::dataset;
  using Context = NoContext;
};

}  // namespace cigl
