#include <cstdio>
#include <set>
#include <sstream>

#include "cigl/core/run.hpp"
#include "cigl/masking.hpp"
#include "json.hpp"

namespace cigl {

double InspectReport::density() const {
  return maskable == 0 ? 1.0
                       : static_cast<double>(maskable_nonzeros) /
                             static_cast<double>(maskable);
}

InspectReport inspect(const ExperimentConfig& config,
                      const Registry& registry) {
  Trainer trainer(config, registry, Trainer::Mode::build_only);
  auto model = trainer.model();
  std::set<const void*> maskable;
  for (const auto& p : maskable_parameters(*model)) {
    maskable.insert(p.weight.unsafeGetTensorImpl());
  }
  InspectReport report;
  report.model = config.model.plugin;
  report.method = config.method.plugin;
  for (const auto& item : model->named_parameters()) {
    const auto& t = item.value();
    LayerRow row;
    row.name = item.key();
    row.shape = t.sizes().vec();
    row.parameters = t.numel();
    row.nonzeros = t.count_nonzero().item<std::int64_t>();
    row.maskable = maskable.count(t.unsafeGetTensorImpl()) != 0;
    report.parameters += row.parameters;
    report.nonzeros += row.nonzeros;
    if (row.maskable) {
      report.maskable += row.parameters;
      report.maskable_nonzeros += row.nonzeros;
    }
    report.rows.push_back(std::move(row));
  }
  return report;
}

namespace {
std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string out;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    out += (i ? "x" : "") + std::to_string(shape[i]);
  }
  return out;
}
}  // namespace

std::string inspect_text(const InspectReport& r) {
  std::ostringstream out;
  char line[256];
  out << "model " << r.model << ", method " << r.method << "\n";
  std::snprintf(line, sizeof line, "%-28s %-16s %12s %8s %12s\n", "layer",
                "shape", "parameters", "density", "non-zeros");
  out << line;
  for (const auto& row : r.rows) {
    double density = row.parameters ? static_cast<double>(row.nonzeros) /
                                          static_cast<double>(row.parameters)
                                    : 1.0;
    std::snprintf(line, sizeof line, "%-28s %-16s %12lld %8.4f %12lld%s\n",
                  row.name.c_str(), shape_text(row.shape).c_str(),
                  static_cast<long long>(row.parameters), density,
                  static_cast<long long>(row.nonzeros),
                  row.maskable ? "" : "  (dense)");
    out << line;
  }
  std::snprintf(line, sizeof line, "%-28s %-16s %12lld %8.4f %12lld\n", "total",
                "", static_cast<long long>(r.parameters),
                r.parameters ? static_cast<double>(r.nonzeros) /
                                   static_cast<double>(r.parameters)
                             : 1.0,
                static_cast<long long>(r.nonzeros));
  out << line;
  std::snprintf(line, sizeof line, "%-28s %-16s %12lld %8.4f %12lld\n",
                "maskable weights", "", static_cast<long long>(r.maskable),
                r.density(), static_cast<long long>(r.maskable_nonzeros));
  out << line;
  return out.str();
}

std::string inspect_json(const InspectReport& r) {
  json::Writer w;
  w.begin_object();
  w.key("model").value(r.model);
  w.key("method").value(r.method);
  w.key("layers").begin_array();
  for (const auto& row : r.rows) {
    w.begin_object();
    w.key("name").value(row.name);
    w.key("shape").begin_array();
    for (auto d : row.shape) w.value(d);
    w.end_array();
    w.key("parameters").value(row.parameters);
    w.key("nonzeros").value(row.nonzeros);
    w.key("density").value(row.parameters
                               ? static_cast<double>(row.nonzeros) /
                                     static_cast<double>(row.parameters)
                               : 1.0);
    w.key("maskable").value(row.maskable);
    w.end_object();
  }
  w.end_array();
  w.key("parameters").value(r.parameters);
  w.key("nonzeros").value(r.nonzeros);
  w.key("maskable_parameters").value(r.maskable);
  w.key("maskable_nonzeros").value(r.maskable_nonzeros);
  w.key("density").value(r.density());
  w.end_object();
  return w.str();
}

}  // namespace cigl
