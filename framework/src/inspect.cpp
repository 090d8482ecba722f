#include <cstdio>
#include <set>
#include <sstream>

#include "cigl/core/number_text.hpp"
#include "cigl/core/run.hpp"
#include "cigl/masking.hpp"
#include "cost_output.hpp"

namespace cigl {

double InspectReport::density() const {
  return maskable == 0 ? 1.0
                       : static_cast<double>(maskable_nonzeros) /
                             static_cast<double>(maskable);
}

InspectReport inspect(const ExperimentConfig& config, const Registry& registry,
                      FlopsConvention convention) {
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
  report.costs = trainer.costs(convention);
  report.kernels = trainer.kernels().setting();
  report.kernel_choices = trainer.kernels().choices();
  report.kernels_text = trainer.kernels().summary();
  return report;
}

namespace {
std::string sci(double v) { return significant(v, 4); }
std::string megabytes(double bytes) { return fixed(bytes / 1e6, 3) + " MB"; }
std::string ratio(double r) { return fixed(r, 3) + "x"; }
std::string size_text(const std::vector<std::int64_t>& v) {
  return v.size() == 2 ? std::to_string(v[0]) + "x" + std::to_string(v[1])
                       : std::string("-");
}
}  // namespace

nlohmann::ordered_json costs_json(const CostReport& r) {
  nlohmann::ordered_json j;
  j["convention"] = convention_name(r.convention);
  j["inference_flops"] = r.flops;
  j["dense_inference_flops"] = r.dense_flops;
  j["inference_flops_ratio"] = r.flops_ratio();
  j["size_bytes"] = r.bytes;
  j["dense_size_bytes"] = r.dense_bytes;
  j["size_ratio"] = r.size_ratio();
  j["parameters"] = r.parameters;
  j["nonzeros"] = r.nonzeros;
  j["batch_size"] = r.batch_size;
  j["total_steps"] = r.total_steps;
  j["training_flops_per_step"] = r.training_flops_per_step;
  j["dense_training_flops_per_step"] = r.dense_training_flops_per_step;
  j["training_flops_ratio"] = r.training_flops_ratio();
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& l : r.layers) {
    nlohmann::ordered_json layer;
    layer["name"] = l.name;
    layer["op"] = l.op;
    layer["weight_shape"] = l.weight_shape;
    layer["input_size"] = l.input_size;
    layer["output_size"] = l.output_size;
    layer["parameters"] = l.parameters;
    layer["nonzeros"] = l.nonzeros;
    layer["inference_flops"] = l.flops;
    layer["dense_inference_flops"] = l.dense_flops;
    layer["size_bytes"] = l.bytes;
    layer["dense_size_bytes"] = l.dense_bytes;
    j["layers"].push_back(std::move(layer));
  }
  return j;
}

std::string costs_text(const CostReport& r) {
  std::ostringstream out;
  char line[320];
  out << "costs, " << convention_name(r.convention)
      << " convention (docs/costs.md), one example:\n";
  std::snprintf(line, sizeof line, "%-28s %-7s %-9s %-9s %8s %12s %12s %12s\n",
                "layer", "op", "input", "output", "density", "dense FLOPs",
                "FLOPs", "bytes");
  out << line;
  for (const auto& l : r.layers) {
    const double density = l.parameters ? static_cast<double>(l.nonzeros) /
                                              static_cast<double>(l.parameters)
                                        : 1.0;
    std::snprintf(line, sizeof line,
                  "%-28s %-7s %-9s %-9s %8s %12s %12s %12s\n", l.name.c_str(),
                  l.op.c_str(), size_text(l.input_size).c_str(),
                  size_text(l.output_size).c_str(), fixed(density, 4).c_str(),
                  sci(l.dense_flops).c_str(), sci(l.flops).c_str(),
                  fixed(l.bytes, 0).c_str());
    out << line;
  }
  out << "inference FLOPs    " << sci(r.flops) << " (" << ratio(r.flops_ratio())
      << " of dense " << sci(r.dense_flops) << ")\n";
  out << "model size         " << megabytes(r.bytes) << " ("
      << ratio(r.size_ratio()) << " of dense " << megabytes(r.dense_bytes)
      << ")\n";
  if (r.total_steps > 0) {
    out << "training FLOPs     " << sci(r.training_flops_per_step)
        << " per step of " << r.batch_size << " examples ("
        << ratio(r.training_flops_ratio()) << " of dense training "
        << sci(r.dense_training_flops_per_step) << "), "
        << sci(r.training_flops_per_step * static_cast<double>(r.total_steps))
        << " for the run's " << r.total_steps << " steps\n";
  } else {
    out << "training FLOPs     unknown (the dataset does not report its "
           "size)\n";
  }
  return out.str();
}

std::string costs_summary(const CostReport& r) {
  return ratio(r.flops_ratio()) + " inference FLOPs (" + sci(r.flops) +
         "), size " + megabytes(r.bytes) + " (" + ratio(r.size_ratio()) +
         "), training " + ratio(r.training_flops_ratio()) + " of dense";
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
    std::snprintf(
        line, sizeof line, "%-28s %-16s %12lld %8s %12lld%s\n",
        row.name.c_str(), shape_text(row.shape).c_str(),
        static_cast<long long>(row.parameters), fixed(density, 4).c_str(),
        static_cast<long long>(row.nonzeros), row.maskable ? "" : "  (dense)");
    out << line;
  }
  const double overall = r.parameters ? static_cast<double>(r.nonzeros) /
                                            static_cast<double>(r.parameters)
                                      : 1.0;
  std::snprintf(line, sizeof line, "%-28s %-16s %12lld %8s %12lld\n", "total",
                "", static_cast<long long>(r.parameters),
                fixed(overall, 4).c_str(), static_cast<long long>(r.nonzeros));
  out << line;
  std::snprintf(line, sizeof line, "%-28s %-16s %12lld %8s %12lld\n",
                "maskable weights", "", static_cast<long long>(r.maskable),
                fixed(r.density(), 4).c_str(),
                static_cast<long long>(r.maskable_nonzeros));
  out << line << "\n" << costs_text(r.costs) << "\n" << r.kernels_text;
  return out.str();
}

std::string inspect_json(const InspectReport& r) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["method"] = r.method;
  j["layers"] = nlohmann::ordered_json::array();
  for (const auto& row : r.rows) {
    nlohmann::ordered_json layer;
    layer["name"] = row.name;
    layer["shape"] = row.shape;
    layer["parameters"] = row.parameters;
    layer["nonzeros"] = row.nonzeros;
    layer["density"] = row.parameters ? static_cast<double>(row.nonzeros) /
                                            static_cast<double>(row.parameters)
                                      : 1.0;
    layer["maskable"] = row.maskable;
    j["layers"].push_back(std::move(layer));
  }
  j["parameters"] = r.parameters;
  j["nonzeros"] = r.nonzeros;
  j["maskable_parameters"] = r.maskable;
  j["maskable_nonzeros"] = r.maskable_nonzeros;
  j["density"] = r.density();
  j["costs"] = costs_json(r.costs);
  auto& kernels = j["sparse_kernels"];
  kernels["setting"] = KernelRouting::setting_name(r.kernels);
  kernels["instruction_set"] = KernelRouting::instruction_set();
  kernels["layers"] = nlohmann::ordered_json::array();
  for (const auto& c : r.kernel_choices) {
    nlohmann::ordered_json layer;
    layer["name"] = c.layer;
    layer["kernel"] = c.sparse ? "sparse" : "dense";
    layer["reason"] = c.reason;
    layer["density"] = c.density;
    if (c.dense_ms > 0) {
      layer["dense_ms"] = c.dense_ms;
      layer["sparse_ms"] = c.sparse_ms;
    }
    kernels["layers"].push_back(std::move(layer));
  }
  return json_text(j);
}

}  // namespace cigl
