#include "cigl/core/costs.hpp"

#include <ATen/record_function.h>

#include <torch/torch.h>
#include <cmath>
#include <map>
#include <set>

#include "cigl/core/kernel_routing.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/model.hpp"

namespace cigl {

const char* convention_name(FlopsConvention convention) {
  return convention == FlopsConvention::plain ? "plain" : "micronet";
}

FlopsConvention convention_from_name(const std::string& name) {
  if (name == "plain") return FlopsConvention::plain;
  if (name == "micronet") return FlopsConvention::micronet;
  throw ConfigError("unknown FLOPs convention '" + name +
                    "' (choices: plain, micronet)");
}

double CostReport::flops_ratio() const {
  return dense_flops > 0 ? flops / dense_flops : 1.0;
}
double CostReport::size_ratio() const {
  return dense_bytes > 0 ? bytes / dense_bytes : 1.0;
}
double CostReport::training_flops_ratio() const {
  return dense_training_flops_per_step > 0
             ? training_flops_per_step / dense_training_flops_per_step
             : 1.0;
}

double Method::training_flops(const ForwardFlops& forward,
                              const TrainContext&) const {
  return 3 * forward.sparse;
}

namespace {

// What the forward pass did with one weight: recorded by an ATen observer,
// since LibTorch's C++ modules have no forward hooks.
struct Call {
  std::string op;
  const void* weight = nullptr;
  std::vector<std::int64_t> input, output, stride;
  bool bias = false;
};

struct Recording {
  std::vector<Call>* calls = nullptr;
  std::set<const void*> weights;
  std::map<const void*, const void*> transposed;  // weight.t() -> weight
  int active = 0;  // > 0 inside a counted call: nested ops are its parts
};
thread_local Recording* recording = nullptr;

// Marks a counted call, so on_end knows which Call gets the output.
struct Counted : at::ObserverContext {
  explicit Counted(std::size_t i) : index(i) {}
  std::size_t index;
};

const void* impl_of(const c10::IValue& v) {
  return v.isTensor() && v.toTensor().defined()
             ? v.toTensor().unsafeGetTensorImpl()
             : nullptr;
}

// A weight being transposed: on_end maps the result to it. (LibTorch 2.x
// no longer hands an end callback the inputs, so on_start notes them.)
struct Transposing : at::ObserverContext {
  explicit Transposing(const void* w) : weight(w) {}
  const void* weight;
};

// Depending on the LibTorch version a Linear layer runs as aten::linear,
// or as aten::t(weight) followed by aten::addmm or aten::matmul.
std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (!recording || recording->active > 0) return nullptr;
  const std::string name = fn.name();
  auto inputs = fn.inputs();
  if (name == "aten::t" || name == "aten::transpose") {
    const void* input = inputs.empty() ? nullptr : impl_of(inputs[0]);
    if (!recording->weights.count(input)) return nullptr;
    return std::make_unique<Transposing>(input);
  }
  Call call;
  const void* weight = nullptr;
  if ((name == "aten::conv2d" || name == "aten::linear") &&
      inputs.size() >= 2) {
    weight = impl_of(inputs[1]);
    if (!recording->weights.count(weight)) return nullptr;
    call.op = name.substr(6);
    call.input = inputs[0].toTensor().sizes().vec();
    if (call.op == "conv2d" && inputs.size() > 3 && inputs[3].isIntList()) {
      call.stride = inputs[3].toIntVector();
    }
  } else if ((name == "aten::addmm" && inputs.size() >= 3) ||
             ((name == "aten::matmul" || name == "aten::mm") &&
              inputs.size() >= 2)) {
    const std::size_t a = name == "aten::addmm" ? 1 : 0;
    auto it = recording->transposed.find(impl_of(inputs[a + 1]));
    if (it == recording->transposed.end() || !inputs[a].isTensor()) {
      return nullptr;
    }
    weight = it->second;
    call.op = "linear";
    call.input = inputs[a].toTensor().sizes().vec();
  } else {
    return nullptr;
  }
  call.weight = weight;
  recording->calls->push_back(std::move(call));
  ++recording->active;
  return std::make_unique<Counted>(recording->calls->size() - 1);
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (!recording) return;
  const auto& outputs = fn.outputs();
  if (auto* counted = dynamic_cast<Counted*>(context)) {
    --recording->active;
    if (!outputs.empty() && outputs[0].isTensor()) {
      (*recording->calls)[counted->index].output =
          outputs[0].toTensor().sizes().vec();
    }
    return;
  }
  if (auto* transposing = dynamic_cast<Transposing*>(context)) {
    if (!outputs.empty()) {
      recording->transposed[impl_of(outputs[0])] = transposing->weight;
    }
  }
}

/// Scoped recording of conv2d/linear calls on this thread.
class Recorder {
 public:
  Recorder(std::vector<Call>& calls, std::set<const void*> weights) {
    state_.calls = &calls;
    state_.weights = std::move(weights);
    recording = &state_;
    handle_ = at::addThreadLocalCallback(
        at::RecordFunctionCallback(&on_start, &on_end)
            .needsInputs(true)
            .needsOutputs(true));
  }
  ~Recorder() {
    at::removeCallback(handle_);
    recording = nullptr;
  }
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

 private:
  Recording state_;
  at::CallbackHandle handle_;
};

std::int64_t product(const std::vector<std::int64_t>& v, std::size_t from) {
  std::int64_t p = 1;
  for (std::size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

void count_layer(LayerCost& layer, const Call& call,
                 FlopsConvention convention) {
  const auto& w = layer.weight_shape;
  const double c_out = static_cast<double>(w.at(0));
  const double numel = static_cast<double>(layer.parameters);
  const double nonzeros = static_cast<double>(layer.nonzeros);
  const bool conv = call.op == "conv2d";
  // Positions at which each output channel's dot product is taken.
  double positions = 1;
  if (conv) {
    const std::size_t rank = call.input.size();
    layer.input_size = {call.input.at(rank - 2), call.input.at(rank - 1)};
    if (convention == FlopsConvention::micronet) {
      // 'same' padding assumed: ceil(input / stride), whatever the layer's
      // real padding, as the counter does.
      for (std::size_t d = 0; d < 2; ++d) {
        const auto s = call.stride.size() == 2   ? call.stride[d]
                       : call.stride.size() == 1 ? call.stride[0]
                                                 : 1;
        layer.output_size.push_back((layer.input_size[d] + s - 1) / s);
      }
    } else {
      const std::size_t r = call.output.size();
      layer.output_size = {call.output.at(r - 2), call.output.at(r - 1)};
    }
    positions = static_cast<double>(layer.output_size[0]) *
                static_cast<double>(layer.output_size[1]);
  } else {
    // Linear over {..., in}: one dot product per row and output feature.
    positions = static_cast<double>(product(call.input, 0)) /
                static_cast<double>(call.input.back());
  }
  const double outputs = positions * c_out;
  if (convention == FlopsConvention::plain) {
    layer.dense_flops = 2 * numel * positions + (call.bias ? outputs : 0);
    layer.flops = 2 * nonzeros * positions + (call.bias ? outputs : 0);
    layer.dense_bytes = 4 * numel;
    layer.bytes = 4 * nonzeros + (nonzeros < numel ? numel / 8 : 0);
  } else {
    // n multiplies and n - 1 adds per dot product, plus a bias add and a
    // ReLU per output: 2 n + 1 per output.
    layer.dense_flops = 2 * numel * positions + outputs;
    layer.flops = 2 * nonzeros * positions + outputs;
    layer.dense_bytes = (32 * numel + 32 * c_out) / 8;
    layer.bytes =
        (32 * nonzeros + (nonzeros < numel ? numel : 0) + 32 * c_out) / 8;
  }
}

}  // namespace

CostReport measure_costs(Model& model,
                         const std::vector<std::int64_t>& input_shape,
                         FlopsConvention convention) {
  CostReport report;
  report.convention = convention;
  struct Named {
    std::string name;
    torch::Tensor tensor;
  };
  std::map<const void*, Named> parameters;  // by TensorImpl, as recorded
  std::set<std::string> parameter_names;
  for (const auto& p : model.named_parameters()) {
    parameters[p.value().unsafeGetTensorImpl()] = {p.key(), p.value()};
    parameter_names.insert(p.key());
    report.parameters += p.value().numel();
    report.nonzeros += p.value().count_nonzero().item<std::int64_t>();
  }

  std::vector<Call> calls;
  {
    torch::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    auto device = torch::kCPU;
    for (const auto& p : model.parameters()) {
      device = p.device().type();
      break;
    }
    std::vector<std::int64_t> shape{1};
    shape.insert(shape.end(), input_shape.begin(), input_shape.end());
    auto input = torch::zeros(shape, torch::TensorOptions(device));
    // The counter records LibTorch's dense operations.
    DenseKernelsGuard dense_kernels;
    try {
      std::set<const void*> weights;
      for (const auto& entry : parameters) weights.insert(entry.first);
      Recorder recorder(calls, std::move(weights));
      model.forward(input);
    } catch (...) {
      model.train(was_training);
      throw;
    }
    model.train(was_training);
  }

  std::set<const void*> counted_weights;
  double counted_bytes = 0, counted_dense_bytes = 0;
  std::int64_t counted_parameters = 0;
  for (const auto& call : calls) {
    auto it = parameters.find(call.weight);
    if (it == parameters.end()) continue;  // a weight that is not a parameter
    const std::string& name = it->second.name;
    const torch::Tensor& weight = it->second.tensor;
    // The layer's bias, if any, is the parameter beside its weight.
    Call counted = call;
    const auto dot = name.rfind('.');
    counted.bias = dot != std::string::npos &&
                   parameter_names.count(name.substr(0, dot) + ".bias");
    LayerCost layer;
    layer.name = name;
    layer.op = call.op;
    layer.weight_shape = weight.sizes().vec();
    layer.parameters = weight.numel();
    layer.nonzeros = weight.count_nonzero().item<std::int64_t>();
    count_layer(layer, counted, convention);
    report.dense_flops += layer.dense_flops;
    report.flops += layer.flops;
    if (counted_weights.insert(call.weight).second) {
      // A weight's storage counts once, however often it is applied.
      counted_bytes += layer.bytes;
      counted_dense_bytes += layer.dense_bytes;
      counted_parameters += layer.parameters;
    } else {
      layer.bytes = layer.dense_bytes = 0;
    }
    report.layers.push_back(std::move(layer));
  }
  report.bytes = counted_bytes;
  report.dense_bytes = counted_dense_bytes;
  if (convention == FlopsConvention::plain) {
    // Every other parameter (biases, normalisation) is stored dense.
    double other =
        4 * static_cast<double>(report.parameters - counted_parameters);
    report.bytes += other;
    report.dense_bytes += other;
  }
  return report;
}

void add_training_costs(CostReport& report, const Method& method,
                        const TrainContext& context, std::int64_t batch_size) {
  report.batch_size = batch_size;
  report.total_steps = context.total_steps;
  if (context.total_steps <= 0) return;
  const ForwardFlops forward{report.flops, report.dense_flops};
  const auto batch = static_cast<double>(batch_size);
  report.training_flops_per_step =
      method.training_flops(forward, context) * batch;
  report.dense_training_flops_per_step = 3 * report.dense_flops * batch;
}

}  // namespace cigl
