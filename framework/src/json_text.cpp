#include "json_text.hpp"

namespace cigl {

std::string json_text(const nlohmann::ordered_json& document) {
  return document.dump(2, ' ', false,
                       nlohmann::ordered_json::error_handler_t::replace) +
         "\n";
}

std::string json_line(const nlohmann::ordered_json& document) {
  return document.dump(-1, ' ', false,
                       nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace cigl
