#pragma once
// The one registry of components, keyed by (kind, name), and the loader of
// plugin libraries that fill it.
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cigl/component.hpp"
#include "cigl/error.hpp"

namespace cigl {

/// A plugin library as loaded; the library handle is type-erased so Boost
/// stays out of this header. Never unloaded while anything refers to it.
struct LoadedPlugin {
  std::string file;
  std::string name;
  std::string version;
  std::shared_ptr<void> library;
  int search_rank = 0;  ///< index of its search directory; lower wins
};

struct CIGL_API RegisteredComponent {
  /// Declared first so it is destroyed last: the factory's code lives in
  /// the plugin library this keeps loaded. Null for built-ins.
  std::shared_ptr<const LoadedPlugin> plugin;
  Kind kind;
  ComponentSpec spec;
  ErasedFactory factory;
  std::string file() const;
};

/// A component found again in a less specific search directory.
struct ShadowedComponent {
  Kind kind;
  std::string name;
  std::string file;
  std::string shadowed_by;
};

class CIGL_API Registry : public Registrar, public ComponentFactory {
 public:
  Registry();
  ~Registry() override;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  /// Loads one plugin file; throws PluginError naming the file. Nothing of
  /// a failing plugin is registered. The file is checked before the
  /// dynamic loader sees it (complete ELF shared object of this machine,
  /// entry point a function); see docs/architecture.md for what cannot be
  /// checked (a library constructor that crashes, hangs or exits).
  void load_plugin(const std::string& file, int search_rank = 0);

  /// Where load_directories is with each file: about to load it, then
  /// loaded or failed. --list-plugins prints it as it goes, so a library
  /// that hangs or kills the process while loading is the last one named.
  enum class LoadStep { start, loaded, failed };
  using LoadProgress =
      std::function<void(LoadStep step, const std::string& file)>;

  /// Loads every `*.so` in `directories` (most specific first), collecting
  /// one message per failing file instead of stopping at the first.
  std::vector<std::string> load_directories(
      const std::vector<std::string>& directories,
      const LoadProgress& progress = {});

  const RegisteredComponent* find(Kind kind, const std::string& name) const;
  std::vector<const RegisteredComponent*> components(Kind kind) const;
  std::vector<const RegisteredComponent*> components() const;
  const std::vector<std::shared_ptr<LoadedPlugin>>& plugins() const {
    return plugins_;
  }
  const std::vector<ShadowedComponent>& shadowed() const { return shadowed_; }

  /// "Unknown model 'mpl' (did you mean 'mlp'? known: lenet5, mlp)".
  std::string unknown_message(Kind kind, const std::string& name) const;

  template <class T>
  std::shared_ptr<T> make(
      const std::string& name, const Params& params,
      const typename ComponentTraits<T>::Context& context = {}) const {
    return std::static_pointer_cast<T>(
        create_erased(ComponentTraits<T>::kind, name, params, &context));
  }

 protected:
  void add_erased(Kind kind, ComponentSpec spec,
                  ErasedFactory factory) override;
  std::shared_ptr<void> create_erased(Kind kind, const std::string& name,
                                      const Params& params,
                                      const void* context) const override;

 private:
  using Key = std::pair<Kind, std::string>;
  std::map<Key, RegisteredComponent> components_;
  std::vector<std::shared_ptr<LoadedPlugin>> plugins_;
  std::vector<ShadowedComponent> shadowed_;
  // Components of the plugin whose register function is running; committed
  // only when it succeeds.
  std::vector<RegisteredComponent>* staging_ = nullptr;
};

/// Plugin folders in discovery order, and what was wrong with the ones
/// left out.
struct PluginSearchPath {
  std::vector<std::string> folders;   ///< existing ones, each once
  std::vector<std::string> warnings;  ///< one line per missing folder
};

/// Plugin folders in discovery order: `command_line` (--plugin-path),
/// `config` ([plugins] paths), CIGL_PLUGIN_PATH, then the install prefix's
/// lib/cigl/plugins or the build tree's plugin folder. A missing folder of
/// the command line is a ConfigError; one of the config or the environment
/// is a warning (a config or shell profile shared between machines may
/// name folders one of them lacks).
CIGL_API PluginSearchPath
plugin_search_path(const std::vector<std::string>& command_line,
                   const std::vector<std::string>& config);

/// The same with `explicit_dirs` first; missing folders are left out
/// silently (benchmarks and tools that have no user to warn).
CIGL_API std::vector<std::string> plugin_search_path(
    const std::vector<std::string>& explicit_dirs);

/// Closest candidate within a small edit distance, or "".
CIGL_API std::string closest_match(const std::string& word,
                                   const std::vector<std::string>& candidates);

}  // namespace cigl
