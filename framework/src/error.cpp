#include "cigl/error.hpp"

#include <c10/util/Exception.h>

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

std::string one_line(const std::exception& e) {
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  std::string text = torch_error ? torch_error->msg() : e.what();
  // "[enforce fail at alloc_cpu.cpp:75] err == 0. DefaultCPUAllocator..."
  // names LibTorch's source, not the user's problem.
  if (text.rfind("[enforce fail at ", 0) == 0) {
    const auto close = text.find("] ");
    const auto sentence = text.find(". ", close);
    if (close != std::string::npos && sentence != std::string::npos &&
        sentence < text.find('\n')) {
      text.erase(0, sentence + 2);
    }
  }
  const auto end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) {
    text.pop_back();
  }
  return text;
}
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
