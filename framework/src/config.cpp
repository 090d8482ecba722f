#include "cigl/core/config.hpp"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "cigl/error.hpp"
#include "config_access.hpp"
#include "config_limits.hpp"
#include "config_migration.hpp"
#include "toml_value.hpp"

namespace fs = std::filesystem;

namespace cigl {

const std::vector<ParamSpec>& experiment_specs() {
  static const std::vector<ParamSpec> specs = {
      ParamSpec::string("name", "experiment",
                        "run name; the run folder is <output_dir>/<name>"),
      ParamSpec::integer("seed", 0, "seed of every random choice").min(0),
      ParamSpec::string("output_dir", "runs",
                        "where run folders go (relative to the working "
                        "directory)"),
      ParamSpec::string("device", "auto",
                        "auto (CUDA device 0 when present, else CPU), cpu, "
                        "cuda or cuda:N"),
      ParamSpec::string("precision", "fp32",
                        "bf16: forward and loss under bfloat16 autocast, "
                        "float32 weights and optimizer state")
          .one_of({"fp32", "bf16"}),
      ParamSpec::boolean("channels_last", false,
                         "training batches of images in the channels-last "
                         "memory format, so convolutions run in it (faster "
                         "on some GPUs)"),
      ParamSpec::integer(
          "threads", 0,
          "CPU threads for LibTorch; 0: all cores (a matrix cell: --threads)")
          .min(0)
          .max(4096),
      ParamSpec::boolean("save_predictions", false,
                         "write predictions.csv (label and class "
                         "probabilities per test example)"),
      ParamSpec::boolean("temperature_scaling", false,
                         "fit one softmax temperature on the validation "
                         "split (min NLL) and report the test metrics "
                         "after it too"),
      ParamSpec::integer("checkpoint_every", 1,
                         "write <run folder>/checkpoint.pt every N epochs "
                         "(and after the last); 0: no checkpoints")
          .min(0),
      ParamSpec::number("checkpoint_minutes", 0,
                        "also write it when this many minutes have passed "
                        "since the last one (checked after each step); 0: "
                        "off")
          .min(0),
  };
  return specs;
}

const std::vector<ParamSpec>& training_specs() {
  static const std::vector<ParamSpec> specs = {
      ParamSpec::integer("epochs", 10, "passes over the training split").min(1),
      ParamSpec::integer("batch_size", 128, "training batch size").min(1),
      ParamSpec::integer("eval_batch_size", 1000, "evaluation batch size")
          .min(1),
      ParamSpec::integer("eval_every", 1,
                         "validate every N epochs (and after the last); 0: "
                         "only after the last")
          .min(0),
      ParamSpec::number("validation_fraction", 0.1,
                        "share of the training set held out for validation")
          .min(0)
          .max(0.9),
      ParamSpec::string("sparse_kernels", "off",
                        "masked Linear/Conv layers on sparse CPU kernels: "
                        "off, on, or auto (time both per layer at setup, "
                        "keep the faster)")
          .one_of({"off", "on", "auto"}),
      ParamSpec::number("label_smoothing", 0.0,
                        "training loss: cross-entropy against (1 - e) "
                        "one-hot + e / classes (RigL's ImageNet recipe: "
                        "0.1)")
          .min(0)
          .max(0.999),
  };
  return specs;
}

const std::vector<ParamSpec>& averaging_specs() {
  static const std::vector<ParamSpec> specs = {
      ParamSpec::boolean("enabled", false,
                         "average the weights; writing an [averaging] "
                         "section turns it on unless it says false"),
      ParamSpec::number("from", 0.8,
                        "first averaged epoch, inclusive: an epoch number "
                        "(unit = \"epochs\") or a fraction of the epochs")
          .min(0),
      ParamSpec::string("unit", "fraction",
                        "unit of `from`: fraction of the epochs, or epochs")
          .one_of({"fraction", "epochs"}),
      ParamSpec::boolean("recompute_batchnorm", true,
                         "recompute BatchNorm statistics of the averaged "
                         "model over the augmented training data"),
  };
  return specs;
}

const std::vector<ParamSpec>& distributed_specs() {
  static const std::vector<ParamSpec> specs = {
      ParamSpec::string("backend", "auto",
                        "collectives between ranks: gloo (CPU), nccl (CUDA); "
                        "auto: nccl on CUDA where built, else gloo")
          .one_of({"auto", "gloo", "nccl"}),
      ParamSpec::number("timeout_seconds", 300,
                        "a rank that does not join, or a collective not "
                        "done, within this many seconds ends the job")
          .greater_than(0),
      ParamSpec::number("bucket_mb", 25,
                        "gradients are all-reduced in buckets of about this "
                        "many megabytes")
          .greater_than(0),
      ParamSpec::boolean("overlap", true,
                         "start each bucket's all-reduce during the backward "
                         "pass, as soon as its gradients are ready"),
  };
  return specs;
}

namespace {

struct SectionDefault {
  const char* section;
  Kind kind;
  const char* plugin;
};
const SectionDefault kPluginSections[] = {
    {"data", Kind::dataset, "fashion_mnist"},
    {"model", Kind::model, "mlp"},
    {"method", Kind::method, "dense"},
    {"schedule", Kind::schedule, "constant"},
    {"optimizer", Kind::optimizer, "sgd"},
};
const char* const kDefaultMetrics[] = {
    "accuracy",      "top5", "ece",   "mce",        "adaptive_ece",
    "classwise_ece", "nll",  "brier", "reliability"};
// `matrix` and `slurm` describe a set of runs, not one run: accepted here
// and read by matrix.cpp.
const char* const kSections[] = {
    "experiment", "training", "optimizer", "data",    "model",
    "method",     "schedule", "metrics",   "plugins", "distributed",
    "matrix",     "slurm",    "averaging"};

std::string position(const std::string& file, const toml::source_region& s) {
  if (s.begin.line == 0) return file;
  return file + ":" + std::to_string(s.begin.line) + ":" +
         std::to_string(s.begin.column);
}

class Resolver {
 public:
  Resolver(const Registry& registry, std::string file,
           const std::map<std::string, std::string>& overrides)
      : registry_(registry), file_(std::move(file)), overrides_(overrides) {}

  std::vector<std::string> errors;

  std::string origin(const std::string& path, const toml::source_region& s) {
    // The longest overridden prefix: a key inside an overridden table came
    // from that override too.
    for (std::string p = path;;) {
      auto it = overrides_.find(p);
      if (it != overrides_.end()) return it->second;
      auto dot = p.rfind('.');
      if (dot == std::string::npos) break;
      p.resize(dot);
    }
    return position(file_, s);
  }

  void error(const std::string& where, const std::string& path,
             const std::string& message) {
    errors.push_back(where + ": " + (path.empty() ? "" : path + ": ") +
                     message);
  }

  // Checks `table` against `specs`; keys in `extra` belong to the caller.
  Params resolve(const toml::table* table, const std::vector<ParamSpec>& specs,
                 const std::string& path, const std::set<std::string>& extra) {
    Params params(path);
    for (const auto& spec : specs) {
      // A default component is resolved only if the table leaves it out,
      // so an override never trips over a missing default plugin.
      bool given = table && table->contains(spec.name);
      if (spec.type != ParamType::component) {
        params.set(spec.name, spec.default_value, "default");
      } else if (!given) {
        params.set(spec.name,
                   component(nullptr, spec, path + "." + spec.name,
                             position(file_, {})),
                   "default");
      }
    }
    if (!table) return params;
    for (auto&& [key, node] : *table) {
      const std::string name(key.str());
      const std::string key_path = path + "." + name;
      if (extra.count(name)) continue;
      auto spec = std::find_if(specs.begin(), specs.end(),
                               [&](const auto& s) { return s.name == name; });
      if (spec == specs.end()) {
        std::vector<std::string> names(extra.begin(), extra.end());
        for (const auto& s : specs) names.push_back(s.name);
        std::string message = "unknown key";
        std::string near = closest_match(name, names);
        const auto moved = moved_key_hint(key_path);
        if (moved) {
          message += ": " + *moved;
        } else if (!near.empty()) {
          message += " (did you mean '" + near + "'?)";
        } else {
          message += "; known keys: ";
          for (std::size_t i = 0; i < names.size(); ++i) {
            message += (i ? ", " : "") + names[i];
          }
        }
        error(origin(key_path, key.source()), key_path, message);
        continue;
      }
      const std::string where = origin(key_path, node.source());
      if (auto value = convert(node, *spec, key_path, where)) {
        params.set(name, std::move(*value), where);
      }
    }
    return params;
  }

  // A component-typed parameter: a plugin name or a table with `plugin`.
  ComponentRef component(const toml::node* node, const ParamSpec& spec,
                         const std::string& path, const std::string& where) {
    std::string name = std::get<ComponentRef>(spec.default_value).name;
    const toml::table* table = nullptr;
    if (node) {
      if (auto s = node->value<std::string>()) {
        name = *s;
      } else if (node->is_table()) {
        table = node->as_table();
        if (auto p = (*table)["plugin"].value<std::string>()) name = *p;
      } else {
        error(where, path,
              std::string("expected a ") + kind_name(spec.component_kind) +
                  " name or a table with `plugin = \"name\"`");
      }
    }
    auto params = std::make_shared<Params>(path);
    if (const auto* c = registry_.find(spec.component_kind, name)) {
      *params = resolve(table, c->spec.params, path, {"plugin"});
    } else {
      error(where, path, registry_.unknown_message(spec.component_kind, name));
    }
    return ComponentRef{spec.component_kind, name, params};
  }

  std::optional<Value> convert(const toml::node& node, const ParamSpec& spec,
                               const std::string& path,
                               const std::string& where) {
    auto wrong = [&]() -> std::optional<Value> {
      error(where, path,
            std::string("expected ") + type_name(spec.type) + ", got " +
                describe(node));
      return std::nullopt;
    };
    switch (spec.type) {
      case ParamType::boolean:
        if (auto v = node.value_exact<bool>()) return Value(*v);
        return wrong();
      case ParamType::integer:
        if (auto v = node.value_exact<std::int64_t>()) {
          if (!in_range(static_cast<double>(*v), spec, path, where)) return {};
          return Value(*v);
        }
        return wrong();
      case ParamType::number:
        if (node.is_number()) {
          double v = *node.value<double>();
          if (!in_range(v, spec, path, where)) return {};
          return Value(v);
        }
        return wrong();
      case ParamType::string:
        if (auto v = node.value_exact<std::string>()) {
          if (!spec.choices.empty() &&
              std::find(spec.choices.begin(), spec.choices.end(), *v) ==
                  spec.choices.end()) {
            std::string message =
                "'" + *v + "' is not " + spec.constraint_text();
            std::string near = closest_match(*v, spec.choices);
            if (!near.empty()) message += " (did you mean '" + near + "'?)";
            error(where, path, message);
            return {};
          }
          return Value(*v);
        }
        return wrong();
      case ParamType::integer_list:
      case ParamType::number_list:
      case ParamType::string_list: return convert_list(node, spec, path, where);
      case ParamType::number_map: {
        const toml::table* table = node.as_table();
        if (!table) return wrong();
        NumberMap map;
        for (auto&& [key, item] : *table) {
          const std::string item_path = path + "." + std::string(key.str());
          if (!item.is_number()) {
            error(where, item_path, "expected a float, got " + describe(item));
            return {};
          }
          double v = *item.value<double>();
          if (!in_range(v, spec, item_path, where)) return {};
          map[std::string(key.str())] = v;
        }
        return Value(std::move(map));
      }
      case ParamType::component:
        return Value(component(&node, spec, path, where));
    }
    return wrong();
  }

  std::optional<Value> convert_list(const toml::node& node,
                                    const ParamSpec& spec,
                                    const std::string& path,
                                    const std::string& where) {
    const toml::array* array = node.as_array();
    if (!array) {
      error(where, path,
            std::string("expected ") + type_name(spec.type) +
                " like [1, 2], got " + describe(node));
      return {};
    }
    std::vector<std::int64_t> ints;
    std::vector<double> numbers;
    std::vector<std::string> strings;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& item = *array->get(i);
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      bool ok = false;
      if (spec.type == ParamType::integer_list) {
        if (auto v = item.value_exact<std::int64_t>()) {
          ok = in_range(static_cast<double>(*v), spec, item_path, where);
          ints.push_back(*v);
          if (!ok) return {};
        }
      } else if (spec.type == ParamType::number_list) {
        if (item.is_number()) {
          double v = *item.value<double>();
          if (!in_range(v, spec, item_path, where)) return {};
          numbers.push_back(v);
          ok = true;
        }
      } else if (auto v = item.value_exact<std::string>()) {
        strings.push_back(*v);
        ok = true;
      }
      if (!ok) {
        error(where, item_path,
              std::string("expected ") + type_name(spec.type) +
                  " elements, got " + describe(item));
        return {};
      }
    }
    if (spec.type == ParamType::integer_list) return Value(ints);
    if (spec.type == ParamType::number_list) return Value(numbers);
    return Value(strings);
  }

  bool in_range(double v, const ParamSpec& spec, const std::string& path,
                const std::string& where) {
    bool below = spec.minimum && (spec.exclusive_minimum ? v <= *spec.minimum
                                                         : v < *spec.minimum);
    bool above = spec.maximum && v > *spec.maximum;
    if (!std::isfinite(v) || below || above) {
      std::ostringstream s;
      s << v << " is out of range (expected " << spec.constraint_text() << ")";
      error(where, path, s.str());
      return false;
    }
    // Numbers reach float32 tensors (an lr of 1e308 overflowed deep in
    // LibTorch's optimizer, naming no key).
    if (std::fabs(v) > std::numeric_limits<float>::max()) {
      std::ostringstream s;
      s << v << " is out of range (beyond float32's "
        << std::numeric_limits<float>::max() << ", the tensors' type)";
      error(where, path, s.str());
      return false;
    }
    return true;
  }

  static std::string describe(const toml::node& node) {
    std::ostringstream s;
    switch (node.type()) {
      case toml::node_type::string: return "a string";
      case toml::node_type::integer:
        s << "integer " << *node.value<std::int64_t>();
        return s.str();
      case toml::node_type::floating_point:
        s << "float " << *node.value<double>();
        return s.str();
      case toml::node_type::boolean: return "a bool";
      case toml::node_type::array: return "an array";
      case toml::node_type::table: return "a table";
      default: return "a date/time";
    }
  }

  // `legacy_key`: an older spelling of `plugin` that is still read.
  ComponentChoice plugin_section(const toml::node* node, Kind kind,
                                 const std::string& path,
                                 const std::string& default_plugin,
                                 std::set<std::string> extra = {"plugin"},
                                 const std::string& legacy_key = "") {
    ComponentChoice choice;
    choice.plugin = default_plugin;
    const toml::table* table = nullptr;
    if (node) {
      table = node->as_table();
      if (!table) {
        error(origin(path, node->source()), path, "expected a table");
      }
    }
    toml::source_region where;
    if (table) {
      where = table->source();
      const toml::node* legacy =
          legacy_key.empty() ? nullptr : table->get(legacy_key);
      if (legacy) {
        extra.insert(legacy_key);
        const std::string legacy_path = path + "." + legacy_key;
        if (table->contains("plugin")) {
          error(
              origin(legacy_path, legacy->source()), legacy_path,
              "give `plugin` only (`" + legacy_key + "` is its old spelling)");
        } else if (auto s = legacy->value_exact<std::string>()) {
          choice.plugin = *s;
          where = legacy->source();
        } else {
          error(origin(legacy_path, legacy->source()), legacy_path,
                "expected a plugin name (string)");
        }
      }
      if (auto p = table->get("plugin")) {
        where = p->source();
        if (auto s = p->value_exact<std::string>()) {
          choice.plugin = *s;
        } else {
          error(origin(path + ".plugin", where), path + ".plugin",
                "expected a plugin name (string)");
        }
      } else if (default_plugin.empty() && !legacy) {
        error(origin(path, where), path,
              std::string("missing `plugin = \"...\"` (the ") +
                  kind_name(kind) + " to use)");
        return choice;
      }
    }
    const auto* c = registry_.find(kind, choice.plugin);
    if (!c) {
      error(origin(path + ".plugin", where), path + ".plugin",
            registry_.unknown_message(kind, choice.plugin));
      choice.params = Params(path);
      return choice;
    }
    choice.params = resolve(table, c->spec.params, path, extra);
    return choice;
  }

  const std::string& file() const { return file_; }

 private:
  const Registry& registry_;
  std::string file_;
  const std::map<std::string, std::string>& overrides_;
};

}  // namespace

struct ConfigDocument::Impl {
  toml::table root;
  std::string source;  ///< file path or a name for in-memory text
  std::string base_dir;
  std::map<std::string, std::string> overrides;  ///< key path -> origin
};

ConfigDocument::ConfigDocument(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}
ConfigDocument::ConfigDocument(ConfigDocument&&) noexcept = default;
ConfigDocument& ConfigDocument::operator=(ConfigDocument&&) noexcept = default;
ConfigDocument::~ConfigDocument() = default;

namespace {
[[noreturn]] void rethrow_parse(const toml::parse_error& e,
                                const std::string& source) {
  throw ConfigError(position(source, e.source()) +
                    ": invalid TOML: " + std::string(e.description()));
}
}  // namespace

ConfigDocument ConfigDocument::from_file(const std::string& file) {
  auto impl = std::make_unique<Impl>();
  impl->source = file;
  impl->base_dir = fs::absolute(file).parent_path().string();
  const std::string text = read_config_text(file);
  check_config_limits(text, file);
  try {
    impl->root = toml::parse(text, file);
  } catch (const toml::parse_error& e) {
    rethrow_parse(e, file);
  }
  return ConfigDocument(std::move(impl));
}

ConfigDocument ConfigDocument::from_string(const std::string& text,
                                           const std::string& source_name) {
  auto impl = std::make_unique<Impl>();
  impl->source = source_name;
  impl->base_dir = fs::current_path().string();
  check_config_limits(text, source_name);
  try {
    impl->root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    rethrow_parse(e, source_name);
  }
  return ConfigDocument(std::move(impl));
}

void ConfigDocument::apply_override(const std::string& assignment,
                                    const std::string& where) {
  const std::string origin = where.empty() ? "--set " + assignment : where;
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError(origin + ": expected section.key=value");
  }
  std::string path = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  std::vector<std::string> parts;
  std::stringstream in(path);
  for (std::string part; std::getline(in, part, '.');) {
    if (part.empty())
      throw ConfigError(origin + ": empty key in '" + path + "'");
    parts.push_back(part);
  }
  if (parts.size() < 2) {
    throw ConfigError(origin +
                      ": name a section and a key, e.g. "
                      "training.epochs=5");
  }
  check_config_limits(path + " = " + text, origin);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", text}};  // a bare word is a string
  }
  toml::node* current = &impl_->root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    const std::string& part = parts[i];
    if (auto* table = current->as_table()) {
      if (!table->contains(part)) table->insert(part, toml::table{});
      current = table->get(part);
    } else if (auto* array = current->as_array()) {
      char* end = nullptr;
      unsigned long index = std::strtoul(part.c_str(), &end, 10);
      if (*end != '\0' || index >= array->size()) {
        throw ConfigError(origin + ": '" + part + "' is not an index of " +
                          "the array (size " + std::to_string(array->size()) +
                          ")");
      }
      current = array->get(index);
    } else {
      throw ConfigError(origin + ": '" + part + "' is not a table");
    }
  }
  auto* table = current->as_table();
  if (!table) throw ConfigError(origin + ": parent of the key is not a table");
  parsed.get("v")->visit(
      [&](auto&& node) { table->insert_or_assign(parts.back(), node); });
  impl_->overrides[path] = origin;
}

const toml::table& ConfigDocumentAccess::root(const ConfigDocument& d) {
  return d.impl_->root;
}
const std::string& ConfigDocumentAccess::source(const ConfigDocument& d) {
  return d.impl_->source;
}
ConfigDocument ConfigDocumentAccess::copy(const ConfigDocument& d) {
  return ConfigDocument(std::make_unique<ConfigDocument::Impl>(*d.impl_));
}
std::string ConfigDocumentAccess::position(const toml::source_region& s,
                                           const ConfigDocument& d) {
  return cigl::position(d.impl_->source, s);
}

bool ConfigDocument::has_table(const std::string& name) const {
  return impl_->root.contains(name);
}

std::vector<std::string> ConfigDocument::plugin_paths() const {
  std::vector<std::string> out;
  if (auto* paths = impl_->root["plugins"]["paths"].as_array()) {
    for (auto&& item : *paths) {
      if (auto s = item.value<std::string>()) {
        fs::path p(*s);
        if (p.is_relative()) p = fs::path(impl_->base_dir) / p;
        out.push_back(p.lexically_normal().string());
      }
    }
  }
  return out;
}

namespace {
// Configs written before optimizers were plugins say `type = "sgd"` and
// meant weight decay on every parameter; they keep meaning that unless
// they say otherwise.
void resolve_legacy_optimizer(const toml::table& root, Resolver& r,
                              ComponentChoice& optimizer) {
  const toml::table* table = root["optimizer"].as_table();
  if (!table || !table->contains("type") || table->contains("plugin") ||
      table->contains("weight_decay_on") ||
      !optimizer.params.has("weight_decay_on")) {
    return;
  }
  optimizer.params.set(
      "weight_decay_on", std::string("all"),
      r.origin("optimizer.type", table->get("type")->source()) +
          " (an old config: weight decay on every parameter, as then)");
}
}  // namespace

ExperimentConfig ConfigDocument::resolve(const Registry& registry) const {
  Resolver r(registry, impl_->source, impl_->overrides);
  const toml::table& root = impl_->root;
  ExperimentConfig config;
  config.source = impl_->source;

  for (auto&& [key, node] : root) {
    std::string name(key.str());
    if (std::find(std::begin(kSections), std::end(kSections), name) ==
        std::end(kSections)) {
      std::string message = "unknown section";
      std::string near = closest_match(
          name,
          std::vector<std::string>(std::begin(kSections), std::end(kSections)));
      if (!near.empty()) message += " (did you mean '" + near + "'?)";
      r.error(r.origin(name, key.source()), name, message);
    }
  }
  auto table_of = [&](const char* name) -> const toml::table* {
    const toml::node* node = root.get(name);
    if (!node) return nullptr;
    if (!node->is_table()) {
      r.error(r.origin(name, node->source()), name, "expected a table");
      return nullptr;
    }
    return node->as_table();
  };
  config.experiment =
      r.resolve(table_of("experiment"), experiment_specs(), "experiment", {});
  config.training =
      r.resolve(table_of("training"), training_specs(), "training", {});
  config.distributed = r.resolve(table_of("distributed"), distributed_specs(),
                                 "distributed", {});
  ComponentChoice* sections[] = {&config.data, &config.model, &config.method,
                                 &config.schedule, &config.optimizer};
  for (std::size_t i = 0; i < std::size(sections); ++i) {
    const auto& d = kPluginSections[i];
    std::set<std::string> core_keys = {"plugin"};
    if (sections[i] == &config.model) core_keys.insert("init_from");
    *sections[i] =
        r.plugin_section(root.get(d.section), d.kind, d.section, d.plugin,
                         core_keys, d.kind == Kind::optimizer ? "type" : "");
  }
  // [model] init_from: weights to start from, a model.pt (relative to the
  // config's folder).
  if (const toml::node* from = root["model"]["init_from"].node()) {
    const std::string where = r.origin("model.init_from", from->source());
    std::error_code ec;
    if (auto path = from->value_exact<std::string>()) {
      fs::path p(*path);
      if (p.is_relative()) p = fs::path(impl_->base_dir) / p;
      p = p.lexically_normal();
      if (!fs::is_regular_file(p, ec)) {
        r.error(where, "model.init_from",
                "no such model file '" + p.string() + "'");
      }
      config.model_init_from = p.string();
    } else {
      r.error(where, "model.init_from",
              "expected the path of a model.pt (a string)");
    }
  }
  resolve_legacy_optimizer(root, r, config.optimizer);
  const toml::table* averaging = table_of("averaging");
  config.averaging = r.resolve(averaging, averaging_specs(), "averaging", {});
  if (averaging && !averaging->contains("enabled")) {
    // Writing the section is asking for averaging.
    config.averaging.set("enabled", true,
                         r.origin("averaging", averaging->source()));
  }

  if (const toml::node* metrics = root.get("metrics")) {
    const toml::array* array = metrics->as_array();
    if (!array) {
      r.error(r.origin("metrics", metrics->source()), "metrics",
              "expected an array of tables ([[metrics]] blocks)");
    } else {
      std::set<std::string> labels;
      for (std::size_t i = 0; i < array->size(); ++i) {
        const std::string path = "metrics." + std::to_string(i);
        const toml::node* item = array->get(i);
        auto choice =
            r.plugin_section(item, Kind::metric, path, "", {"plugin", "name"});
        choice.label = choice.plugin;
        if (auto* t = item->as_table()) {
          if (auto n = (*t)["name"].value<std::string>()) choice.label = *n;
        }
        if (!labels.insert(choice.label).second) {
          r.error(r.origin(path, item->source()), path,
                  "metric name '" + choice.label +
                      "' is used twice; give one a distinct `name`");
        }
        config.metrics.push_back(std::move(choice));
      }
    }
  } else {
    for (const char* name : kDefaultMetrics) {
      toml::table t{{"plugin", name}};
      auto choice = r.plugin_section(&t, Kind::metric, "metrics", name);
      choice.label = name;
      config.metrics.push_back(std::move(choice));
    }
  }

  if (const toml::table* plugins = table_of("plugins")) {
    for (auto&& [key, node] : *plugins) {
      std::string name(key.str());
      if (name != "paths") {
        r.error(r.origin("plugins." + name, key.source()), "plugins." + name,
                "unknown key (the only key is 'paths')");
      } else if (!node.is_array()) {
        r.error(r.origin("plugins.paths", node.source()), "plugins.paths",
                "expected a list of folders");
      }
    }
    // A missing folder is a warning of the plugin search (cigl-run), not
    // an error: a config shared between machines may name one not here.
    config.plugin_paths = plugin_paths();
  }

  // The device's spelling (whether it is there is known only when training
  // starts: the config may be written on a machine without the GPU).
  if (const std::string device = config.experiment.string("device");
      device != "auto" && device != "cpu" && device != "cuda" &&
      !(device.rfind("cuda:", 0) == 0 && device.size() > 5 &&
        device.size() <= 9 &&
        device.find_first_not_of("0123456789", 5) == std::string::npos)) {
    r.error(config.experiment.origin("device"), "experiment.device",
            "'" + device + "' is not a device; use auto, cpu, cuda or cuda:N");
  }

  // Settings that only work together, checked before anything runs.
  if (config.experiment.boolean("temperature_scaling") &&
      config.training.number("validation_fraction") == 0) {
    r.error(config.experiment.origin("temperature_scaling"),
            "experiment.temperature_scaling",
            "fits a temperature on the validation split, but "
            "training.validation_fraction is 0 (" +
                config.training.origin("validation_fraction") + ")");
  }

  if (!r.errors.empty()) {
    std::string message;
    for (std::size_t i = 0; i < r.errors.size(); ++i) {
      message += (i ? "\n" : "") + r.errors[i];
    }
    throw ConfigError(message);
  }
  return config;
}

Params default_params(const Registry& registry, Kind kind,
                      const std::string& name) {
  const auto* c = registry.find(kind, name);
  if (!c) throw ConfigError(registry.unknown_message(kind, name));
  static const std::map<std::string, std::string> no_overrides;
  Resolver r(registry, "", no_overrides);
  Params params = r.resolve(nullptr, c->spec.params, kind_name(kind), {});
  if (!r.errors.empty()) throw ConfigError(r.errors.front());
  return params;
}

namespace {
toml::table params_table(const Params& params) {
  toml::table table;
  for (const auto& [key, entry] : params.entries()) {
    insert_toml(table, key, entry.value);
  }
  return table;
}

// A comment line holds no line break or other control character.
std::string comment_text(const std::string& text) {
  std::string out;
  for (unsigned char c : text) out += c < 0x20 || c == 0x7f ? '?' : char(c);
  return out;
}
}  // namespace

std::string to_toml(const ExperimentConfig& config) {
  toml::table root;
  root.insert("experiment", params_table(config.experiment));
  root.insert("training", params_table(config.training));
  root.insert("averaging", params_table(config.averaging));
  const std::pair<const char*, const ComponentChoice*> sections[] = {
      {"optimizer", &config.optimizer},
      {"data", &config.data},
      {"model", &config.model},
      {"method", &config.method},
      {"schedule", &config.schedule}};
  for (const auto& [name, choice] : sections) {
    toml::table section = params_table(choice->params);
    section.insert_or_assign("plugin", choice->plugin);
    if (choice == &config.model && !config.model_init_from.empty()) {
      section.insert_or_assign("init_from", config.model_init_from);
    }
    root.insert(name, std::move(section));
  }
  toml::array metrics;
  for (const auto& metric : config.metrics) {
    toml::table block = params_table(metric.params);
    block.insert_or_assign("plugin", metric.plugin);
    if (metric.label != metric.plugin) {
      block.insert_or_assign("name", metric.label);
    }
    metrics.push_back(std::move(block));
  }
  root.insert("metrics", std::move(metrics));
  root.insert("distributed", params_table(config.distributed));
  if (!config.plugin_paths.empty()) {
    toml::array paths;
    for (const auto& p : config.plugin_paths) paths.push_back(p);
    root.insert("plugins", toml::table{{"paths", std::move(paths)}});
  }
  std::string out = "# Resolved config: every key, defaults included.\n";
  if (!config.source.empty()) {
    out += "# From " + comment_text(config.source) + "\n";
  }
  return out + "\n" + toml_document(root);
}

}  // namespace cigl
