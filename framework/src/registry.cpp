#include "cigl/core/registry.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>

#include "cigl/plugin.hpp"
#include "plugin_file.hpp"

namespace fs = std::filesystem;

namespace cigl {

std::string RegisteredComponent::file() const {
  return plugin ? plugin->file : "(built in)";
}

Registry::Registry() = default;
Registry::~Registry() = default;

namespace {

// Boost.DLL clears dlerror() before it reports a failed load; ask the loader
// again so the message carries its own words (missing symbol, bad ELF...).
std::string loader_message(const std::string& file) {
  dlerror();
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle) {
    dlclose(handle);
    return "the dynamic loader refused it";
  }
  const char* text = dlerror();
  return text ? text : "unknown loader error";
}

// A library constructor or register function that crashes takes the whole
// process down; no in-process defence exists. While plugin code runs, fatal
// signals first print which file it was (async-signal-safe: a prepared
// buffer and write()), then die as they would have, core dump included.
class CrashNamesThePlugin {
 public:
  explicit CrashNamesThePlugin(const std::string& file) {
    std::snprintf(file_, sizeof file_, "%s", file.c_str());
    struct sigaction action {};
    action.sa_handler = &CrashNamesThePlugin::handle;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND;  // the re-raised signal is the default
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      sigaction(kSignals[i], &action, &previous_[i]);
    }
  }
  ~CrashNamesThePlugin() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) {
      sigaction(kSignals[i], &previous_[i], nullptr);
    }
  }
  CrashNamesThePlugin(const CrashNamesThePlugin&) = delete;
  CrashNamesThePlugin& operator=(const CrashNamesThePlugin&) = delete;

 private:
  static constexpr std::array<int, 5> kSignals{SIGSEGV, SIGBUS, SIGABRT, SIGILL,
                                               SIGFPE};
  static void say(const char* text) {
    if (::write(STDERR_FILENO, text, std::strlen(text)) < 0) return;
  }
  static void handle(int signal) {
    say("error: plugin ");
    say(file_);
    say(signal == SIGABRT ? ": aborted while loading"
                          : ": crashed while loading");
    say(" (in its library constructors or register function); move it out "
        "of the plugin folders\n");
    std::raise(signal);  // SA_RESETHAND: the default action now
  }
  static char file_[4096];
  std::array<struct sigaction, kSignals.size()> previous_{};
};
char CrashNamesThePlugin::file_[4096];

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

/// "from model.hidden = [10] (exp.toml:3:1)", or "from its defaults".
std::string settings_text(const Params& params) {
  std::vector<std::string> set;
  for (const auto& [key, entry] : params.entries()) {
    if (entry.origin == "default") continue;
    set.push_back(params.key_path(key) + " = " + to_string(entry.value) + " (" +
                  entry.origin + ")");
  }
  if (set.empty()) return "from its defaults";
  std::string out = "from ";
  const std::size_t shown = std::min<std::size_t>(set.size(), 4);
  for (std::size_t i = 0; i < shown; ++i) out += (i ? ", " : "") + set[i];
  if (set.size() > shown) {
    out += " and " + std::to_string(set.size() - shown) + " more";
  }
  return out;
}

}  // namespace

std::string closest_match(const std::string& word,
                          const std::vector<std::string>& candidates) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
  for (const auto& candidate : candidates) {
    std::size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  return best;
}

void Registry::load_plugin(const std::string& file, int search_rank) {
  auto fail = [&](const std::string& what) -> void {
    throw PluginError("plugin " + file + ": " + what);
  };
  // The file's own bytes first: the loader would map a truncated library
  // and crash with SIGBUS, and calling a data symbol crashes with SIGSEGV.
  const std::string problem =
      plugin_file_problem(file, CIGL_PLUGIN_ENTRY_SYMBOL);
  if (!problem.empty()) fail(problem);

  CrashNamesThePlugin crash_names(file);
  auto library = std::make_shared<boost::dll::shared_library>();
  std::error_code ec;
  library->load(
      file, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local,
      ec);
  if (ec || !library->is_loaded()) {
    fail("cannot be loaded: " + loader_message(file));
  }
  if (!library->has(CIGL_PLUGIN_ENTRY_SYMBOL)) {
    fail(std::string("no entry point '") + CIGL_PLUGIN_ENTRY_SYMBOL +
         "' (is it a cigl plugin? define one with CIGL_PLUGIN)");
  }
  auto entry =
      library->get<const cigl_plugin_info_t*()>(CIGL_PLUGIN_ENTRY_SYMBOL);
  const cigl_plugin_info_t* info = entry();
  if (info == nullptr) fail("entry point returned no plugin info");
  if (info->api_version != CIGL_PLUGIN_API_VERSION) {
    fail("plugin API version " + std::to_string(info->api_version) +
         ", this cigl " CIGL_VERSION_STRING " supports " +
         std::to_string(CIGL_PLUGIN_API_VERSION) +
         "; rebuild the plugin against this cigl's SDK "
         "(find_package(cigl) from its install prefix)");
  }
  const std::string fingerprint = info->fingerprint ? info->fingerprint : "";
  if (fingerprint != CIGL_BUILD_FINGERPRINT) {
    fail("built for '" + fingerprint + "', this cigl is '" +
         CIGL_BUILD_FINGERPRINT +
         "'; rebuild the plugin with the same "
         "compiler and LibTorch");
  }
  if (info->reg == nullptr) fail("plugin info has no register function");

  auto plugin = std::make_shared<LoadedPlugin>();
  plugin->file = file;
  plugin->name = info->name ? info->name : "?";
  plugin->version = info->version ? info->version : "?";
  plugin->search_rank = search_rank;
  plugin->library = library;

  std::vector<RegisteredComponent> staged;
  staging_ = &staged;
  char message[1024] = {0};
  int rc = 1;
  try {
    rc = info->reg(this, message, sizeof message);
  } catch (const std::exception& e) {  // a plugin not built with CIGL_PLUGIN
    std::snprintf(message, sizeof message, "%s", e.what());
  } catch (...) {
    std::snprintf(message, sizeof message, "unknown exception");
  }
  staging_ = nullptr;
  if (rc != 0) fail(std::string("its register function failed: ") + message);

  // Check the whole set before committing any of it.
  std::vector<std::pair<Key, bool>> decisions;  // key, shadowed
  for (auto& c : staged) {
    Key key{c.kind, c.spec.name};
    auto it = components_.find(key);
    bool shadowed = false;
    if (it != components_.end()) {
      int other_rank = it->second.plugin ? it->second.plugin->search_rank : -1;
      if (other_rank >= search_rank) {
        fail(std::string("registers ") + kind_name(c.kind) + "/" + c.spec.name +
             ", which " + it->second.file() + " already registers");
      }
      shadowed = true;
    }
    for (auto& d : decisions) {
      if (d.first == key) {
        fail(std::string("registers ") + kind_name(c.kind) + "/" + c.spec.name +
             " twice");
      }
    }
    decisions.emplace_back(key, shadowed);
  }
  for (std::size_t i = 0; i < staged.size(); ++i) {
    auto& c = staged[i];
    if (decisions[i].second) {
      shadowed_.push_back(
          ShadowedComponent{c.kind, c.spec.name, file,
                            components_.at(decisions[i].first).file()});
      continue;
    }
    c.plugin = plugin;
    components_.emplace(decisions[i].first, std::move(c));
  }
  plugins_.push_back(plugin);
}

std::vector<std::string> Registry::load_directories(
    const std::vector<std::string>& directories, const LoadProgress& progress) {
  std::vector<std::string> errors;
  for (std::size_t rank = 0; rank < directories.size(); ++rank) {
    std::vector<std::string> files;
    std::error_code ec;
    for (fs::directory_iterator it(directories[rank], ec), end;
         !ec && it != end; it.increment(ec)) {
      if (it->path().extension() == ".so") files.push_back(it->path());
    }
    if (ec) {
      errors.push_back("plugin folder " + directories[rank] +
                       ": cannot be read: " + ec.message());
      continue;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
      // The same file reached through two search entries loads once.
      bool seen = std::any_of(
          plugins_.begin(), plugins_.end(),
          [&](const auto& p) { return fs::equivalent(p->file, file, ec); });
      if (seen) continue;
      if (progress) progress(LoadStep::start, file);
      const std::size_t errors_before = errors.size();
      try {
        load_plugin(file, static_cast<int>(rank));
      } catch (const PluginError& e) {
        errors.emplace_back(e.what());
      } catch (const std::exception& e) {  // filesystem, loader internals
        errors.push_back("plugin " + file + ": " + e.what());
      }
      if (progress) {
        progress(
            errors.size() > errors_before ? LoadStep::failed : LoadStep::loaded,
            file);
      }
    }
  }
  return errors;
}

void Registry::add_erased(Kind kind, ComponentSpec spec,
                          ErasedFactory factory) {
  RegisteredComponent c{nullptr, kind, std::move(spec), std::move(factory)};
  if (c.spec.name.empty()) {
    throw Error(std::string("a ") + kind_name(kind) + " with an empty name");
  }
  if (staging_) {
    staging_->push_back(std::move(c));
    return;
  }
  Key key{kind, c.spec.name};
  if (components_.count(key)) {
    throw Error(std::string(kind_name(kind)) + "/" + key.second +
                " is already registered by " + components_.at(key).file());
  }
  components_.emplace(key, std::move(c));
}

const RegisteredComponent* Registry::find(Kind kind,
                                          const std::string& name) const {
  auto it = components_.find({kind, name});
  return it == components_.end() ? nullptr : &it->second;
}

std::vector<const RegisteredComponent*> Registry::components(Kind kind) const {
  std::vector<const RegisteredComponent*> out;
  for (const auto& [key, c] : components_) {
    if (key.first == kind) out.push_back(&c);
  }
  return out;
}

std::vector<const RegisteredComponent*> Registry::components() const {
  std::vector<const RegisteredComponent*> out;
  for (const auto& [key, c] : components_) out.push_back(&c);
  return out;
}

std::string Registry::unknown_message(Kind kind,
                                      const std::string& name) const {
  std::vector<std::string> names;
  for (const auto* c : components(kind)) names.push_back(c->spec.name);
  std::string out =
      std::string("unknown ") + kind_name(kind) + " '" + name + "'";
  std::string near = closest_match(name, names);
  if (!near.empty()) out += " (did you mean '" + near + "'?)";
  out += "; known: ";
  if (names.empty()) out += "none (no plugin of this kind was found)";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += (i ? ", " : "") + names[i];
  }
  return out;
}

std::shared_ptr<void> Registry::create_erased(Kind kind,
                                              const std::string& name,
                                              const Params& params,
                                              const void* context) const {
  const RegisteredComponent* c = find(kind, name);
  if (!c) throw ConfigError(unknown_message(kind, name));
  std::shared_ptr<void> object;
  try {
    object = c->factory(params, context);
  } catch (const ConfigError&) {
    throw;  // already names the config key and line
  } catch (const std::exception& e) {
    // Nothing has run: these settings cannot be built (LibTorch failing to
    // allocate model.hidden = [1000000000], ...). One line, with the
    // settings that differ from the defaults.
    throw ConfigError(std::string(kind_name(kind)) + "/" + name + " (" +
                      c->file() + "): cannot be built " +
                      settings_text(params) + ": " + one_line(e));
  }
  if (!object) {
    throw Error(std::string(kind_name(kind)) + "/" + name + " (" + c->file() +
                "): factory returned nothing");
  }
  if (!c->plugin) return object;
  // The object keeps its library loaded: members are destroyed in reverse
  // order, so the object goes before the library reference.
  struct Holder {
    std::shared_ptr<const void> library;
    std::shared_ptr<void> object;
  };
  void* raw = object.get();
  auto holder = std::make_shared<Holder>(Holder{c->plugin, std::move(object)});
  return std::shared_ptr<void>(holder, raw);
}

namespace {

/// Every candidate folder with where it came from, most specific first.
struct Candidate {
  std::string folder;
  const char* origin;  ///< nullptr: the bundled folder (always exists)
};

std::vector<Candidate> candidates(const std::vector<std::string>& command_line,
                                  const std::vector<std::string>& config) {
  std::vector<Candidate> out;
  for (const auto& d : command_line) out.push_back({d, "--plugin-path"});
  for (const auto& d : config) out.push_back({d, "[plugins] paths"});
  if (const char* env = std::getenv("CIGL_PLUGIN_PATH")) {
    std::stringstream in(env);
    std::string dir;
    while (std::getline(in, dir, ':')) {
      if (!dir.empty()) out.push_back({dir, "CIGL_PLUGIN_PATH"});
    }
  }
  // An installed cigl-run uses its own prefix's plugins; the build tree's
  // folder is the fallback (tests, and tools run from elsewhere).
  std::error_code ec;
  fs::path exe = boost::dll::program_location(ec);
  fs::path installed =
      ec ? fs::path()
         : exe.parent_path().parent_path() / CIGL_INSTALL_PLUGIN_SUBDIR;
  if (!installed.empty() && fs::is_directory(installed, ec)) {
    out.push_back({installed.string(), nullptr});
  } else {
    out.push_back({CIGL_BUILD_PLUGIN_DIR, nullptr});
  }
  return out;
}

}  // namespace

PluginSearchPath plugin_search_path(
    const std::vector<std::string>& command_line,
    const std::vector<std::string>& config) {
  PluginSearchPath out;
  for (const Candidate& candidate : candidates(command_line, config)) {
    const std::string& dir = candidate.folder;
    const char* origin = candidate.origin;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      if (!origin) continue;  // a build tree without plugins: none found
      const std::string what =
          std::string(origin) + " folder " + dir +
          (fs::exists(dir, ec) ? " is not a folder" : " does not exist");
      if (origin == std::string("--plugin-path")) throw ConfigError(what);
      out.warnings.push_back(what + "; skipped");
      continue;
    }
    bool duplicate =
        std::any_of(out.folders.begin(), out.folders.end(),
                    [&](const auto& d) { return fs::equivalent(d, dir, ec); });
    if (!duplicate) out.folders.push_back(dir);
  }
  return out;
}

std::vector<std::string> plugin_search_path(
    const std::vector<std::string>& explicit_dirs) {
  return plugin_search_path({}, explicit_dirs).folders;
}

}  // namespace cigl
