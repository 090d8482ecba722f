#include <cstdio>
#include <set>
#include <sstream>

#include "cigl/core/run.hpp"
#include "cigl/masking.hpp"
#include "cost_output.hpp"
#include "json.hpp"

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
std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}
std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f MB", bytes / 1e6);
  return buf;
}
std::string ratio(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fx", r);
  return buf;
}
std::string size_text(const std::vector<std::int64_t>& v) {
  return v.size() == 2 ? std::to_string(v[0]) + "x" + std::to_string(v[1])
                       : std::string("-");
}
}  // namespace

void write_costs_json(json::Writer& w, const CostReport& r) {
  w.begin_object();
  w.key("convention").value(convention_name(r.convention));
  w.key("inference_flops").value(r.flops);
  w.key("dense_inference_flops").value(r.dense_flops);
  w.key("inference_flops_ratio").value(r.flops_ratio());
  w.key("size_bytes").value(r.bytes);
  w.key("dense_size_bytes").value(r.dense_bytes);
  w.key("size_ratio").value(r.size_ratio());
  w.key("parameters").value(r.parameters);
  w.key("nonzeros").value(r.nonzeros);
  w.key("batch_size").value(r.batch_size);
  w.key("total_steps").value(r.total_steps);
  w.key("training_flops_per_step").value(r.training_flops_per_step);
  w.key("dense_training_flops_per_step").value(r.dense_training_flops_per_step);
  w.key("training_flops_ratio").value(r.training_flops_ratio());
  w.key("layers").begin_array();
  for (const auto& l : r.layers) {
    w.begin_object();
    w.key("name").value(l.name);
    w.key("op").value(l.op);
    w.key("weight_shape").begin_array();
    for (auto d : l.weight_shape) w.value(d);
    w.end_array();
    w.key("input_size").begin_array();
    for (auto d : l.input_size) w.value(d);
    w.end_array();
    w.key("output_size").begin_array();
    for (auto d : l.output_size) w.value(d);
    w.end_array();
    w.key("parameters").value(l.parameters);
    w.key("nonzeros").value(l.nonzeros);
    w.key("inference_flops").value(l.flops);
    w.key("dense_inference_flops").value(l.dense_flops);
    w.key("size_bytes").value(l.bytes);
    w.key("dense_size_bytes").value(l.dense_bytes);
    w.end_object();
  }
  w.end_array();
  w.end_object();
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
                  "%-28s %-7s %-9s %-9s %8.4f %12s %12s %12.0f\n",
                  l.name.c_str(), l.op.c_str(), size_text(l.input_size).c_str(),
                  size_text(l.output_size).c_str(), density,
                  sci(l.dense_flops).c_str(), sci(l.flops).c_str(), l.bytes);
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
  out << line << "\n" << costs_text(r.costs) << "\n" << r.kernels_text;
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
  w.key("costs");
  write_costs_json(w, r.costs);
  w.key("sparse_kernels").begin_object();
  w.key("setting").value(KernelRouting::setting_name(r.kernels));
  w.key("instruction_set").value(KernelRouting::instruction_set());
  w.key("layers").begin_array();
  for (const auto& c : r.kernel_choices) {
    w.begin_object();
    w.key("name").value(c.layer);
    w.key("kernel").value(c.sparse ? "sparse" : "dense");
    w.key("reason").value(c.reason);
    w.key("density").value(c.density);
    if (c.dense_ms > 0) {
      w.key("dense_ms").value(c.dense_ms);
      w.key("sparse_ms").value(c.sparse_ms);
    }
    w.end_object();
  }
  w.end_array();
  w.end_object();
  w.end_object();
  return w.str();
}

}  // namespace cigl
