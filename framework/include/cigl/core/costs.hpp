#pragma once
// What a (sparse) model costs: inference FLOPs per example, training FLOPs
// per step for a method, parameters, non-zeros and model size, per layer
// and in total, under two counting conventions (docs/costs.md):
//
//   plain     a multiply-add is 2 FLOPs; each Conv/Linear layer's FLOPs are
//             scaled by its density (2 * non-zeros * output positions),
//             plus one add per output for a bias the layer has. Size: 4
//             bytes per non-zero of a sparse weight plus one mask bit per
//             element, 4 bytes per element of every dense parameter.
//   micronet  the operation counter of the MicroNet challenge as the RigL
//             paper's tables used it: only Conv/Linear layers, each counted
//             as if it had 'same' padding (outputs = ceil(input / stride)),
//             a bias and a ReLU (one more add and one multiply per output,
//             one fewer add per dot product); size counts each such layer's
//             weights (32 bits per non-zero, a 1-bit mask if sparse) and
//             one 32-bit bias per output channel (BatchNorm folded in).
#include <cstdint>
#include <string>
#include <vector>

#include "cigl/export.hpp"

namespace cigl {

class Model;
class Method;
struct TrainContext;

enum class FlopsConvention { plain, micronet };
CIGL_API const char* convention_name(FlopsConvention convention);
/// "plain" or "micronet"; throws ConfigError naming the choices otherwise.
CIGL_API FlopsConvention convention_from_name(const std::string& name);

/// One Conv or Linear layer as the forward pass used it (one example).
struct LayerCost {
  std::string name;  ///< the weight's parameter name, e.g. "conv1.weight"
  std::string op;    ///< "conv2d" or "linear"
  std::vector<std::int64_t> weight_shape;
  std::vector<std::int64_t> input_size;   ///< spatial {h, w}; {} for linear
  std::vector<std::int64_t> output_size;  ///< as the convention counts it
  std::int64_t parameters = 0, nonzeros = 0;
  double dense_flops = 0, flops = 0;  ///< inference, one example
  double dense_bytes = 0, bytes = 0;  ///< this layer's share of the size
};

struct CIGL_API CostReport {
  FlopsConvention convention = FlopsConvention::plain;
  std::vector<LayerCost> layers;      ///< in the order the forward pass ran
  double dense_flops = 0, flops = 0;  ///< inference FLOPs, one example
  double dense_bytes = 0, bytes = 0;  ///< model size
  std::int64_t parameters = 0, nonzeros = 0;  ///< every parameter tensor
  /// Training FLOPs of one optimizer step (batch_size examples) for the
  /// method, averaged over the run, and for dense training of the same
  /// model; 0 when the number of steps is unknown.
  double training_flops_per_step = 0, dense_training_flops_per_step = 0;
  std::int64_t batch_size = 0, total_steps = 0;

  double flops_ratio() const;           ///< flops / dense_flops
  double size_ratio() const;            ///< bytes / dense_bytes
  double training_flops_ratio() const;  ///< method / dense training
};

/// Runs one example of zeros through `model` (eval mode, no gradients;
/// the mode is restored) and counts every Conv/Linear call. A weight's
/// density is its share of non-zeros, so call this once masks are applied.
CIGL_API CostReport measure_costs(Model& model,
                                  const std::vector<std::int64_t>& input_shape,
                                  FlopsConvention convention);

/// Adds the training FLOPs of `method` over `context.total_steps` steps of
/// `batch_size` examples (Method::training_flops) to `report`.
CIGL_API void add_training_costs(CostReport& report, const Method& method,
                                 const TrainContext& context,
                                 std::int64_t batch_size);

}  // namespace cigl
