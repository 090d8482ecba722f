#include "cigl/core/provenance.hpp"

#include <algorithm>

namespace cigl {

const char* cigl_version() { return CIGL_VERSION_STRING; }

namespace {

void add(std::vector<UsedComponent>& out, const Registry& registry, Kind kind,
         const std::string& name, const Params* params) {
  const bool seen = std::any_of(out.begin(), out.end(), [&](const auto& u) {
    return u.kind == kind && u.name == name;
  });
  if (!seen) {
    UsedComponent used{kind, name, "", ""};
    if (const auto* c = registry.find(kind, name); c && c->plugin) {
      used.plugin = c->plugin->name;
      used.plugin_version = c->plugin->version;
    }
    out.push_back(std::move(used));
  }
  if (!params) return;
  for (const auto& [key, entry] : params->entries()) {
    if (const auto* ref = std::get_if<ComponentRef>(&entry.value)) {
      add(out, registry, ref->kind, ref->name, ref->params.get());
    }
  }
}

}  // namespace

std::vector<UsedComponent> used_components(const ExperimentConfig& config,
                                           const Registry& registry) {
  std::vector<UsedComponent> out;
  add(out, registry, Kind::dataset, config.data.plugin, &config.data.params);
  add(out, registry, Kind::model, config.model.plugin, &config.model.params);
  add(out, registry, Kind::method, config.method.plugin, &config.method.params);
  add(out, registry, Kind::schedule, config.schedule.plugin,
      &config.schedule.params);
  for (const auto& m : config.metrics) {
    add(out, registry, Kind::metric, m.plugin, &m.params);
  }
  return out;
}

std::string code_versions(const ExperimentConfig& config,
                          const Registry& registry) {
  std::string out = std::string("cigl ") + cigl_version() + "\n";
  for (const auto& u : used_components(config, registry)) {
    out += std::string(kind_name(u.kind)) + "/" + u.name + " " +
           (u.plugin.empty() ? "built-in" : u.plugin + " " + u.plugin_version) +
           "\n";
  }
  return out;
}

}  // namespace cigl
