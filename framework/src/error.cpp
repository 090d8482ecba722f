#include "cigl/error.hpp"

#include "cigl/component.hpp"
#include "cigl/dataset.hpp"
#include "cigl/distribution.hpp"
#include "cigl/method.hpp"
#include "cigl/metric.hpp"
#include "cigl/model.hpp"
#include "cigl/schedule.hpp"

// Out-of-line virtual destructors: one vtable and typeinfo per interface,
// in the core library, shared by every plugin.
namespace cigl {
Error::~Error() = default;
ConfigError::~ConfigError() = default;
PluginError::~PluginError() = default;
DataError::~DataError() = default;
Registrar::~Registrar() = default;
ComponentFactory::~ComponentFactory() = default;
Model::~Model() = default;
Dataset::~Dataset() = default;
torch::Tensor Dataset::augment(torch::Tensor inputs, torch::Generator&) const {
  return inputs;
}
Metric::~Metric() = default;
Schedule::~Schedule() = default;
Distribution::~Distribution() = default;
Method::~Method() = default;
}  // namespace cigl
