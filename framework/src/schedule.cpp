#include "cigl/schedule.hpp"

#include <cmath>
#include <cstring>

#include "cigl/error.hpp"

namespace cigl {

std::int64_t to_steps(double amount, const char* unit,
                      const ScheduleContext& context) {
  if (std::strcmp(unit, "steps") == 0) return std::llround(amount);
  if (std::strcmp(unit, "epochs") == 0) {
    return std::llround(amount * static_cast<double>(context.steps_per_epoch));
  }
  throw ConfigError(std::string("unknown duration unit '") + unit +
                    "' (expected steps or epochs)");
}

}  // namespace cigl
