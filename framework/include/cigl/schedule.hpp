#pragma once
#include <cstdint>

#include "cigl/component.hpp"

namespace cigl {

/// What a schedule is scaled to: a learning rate over the whole run, or a
/// drop fraction over the topology-update window.
struct ScheduleContext {
  double base_value = 1.0;
  std::int64_t total_steps = 1;
  std::int64_t steps_per_epoch = 1;
};

/// A value as a function of the step: stateless, so nothing to checkpoint.
class CIGL_API Schedule {
 public:
  virtual ~Schedule();
  virtual double value(std::int64_t step) const = 0;
};

template <>
struct ComponentTraits<Schedule> {
  static constexpr Kind kind = Kind::schedule;
  using Context = ScheduleContext;
};

/// Converts a duration parameter given in `unit` ("steps" or "epochs") to
/// steps, rounding to the nearest step.
CIGL_API std::int64_t to_steps(double amount, const char* unit,
                               const ScheduleContext& context);

}  // namespace cigl
