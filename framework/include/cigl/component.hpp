#pragma once
// What a plugin registers: named components of a kind, each with its
// declared parameters and a factory. No LibTorch here: a factory returns a
// shared_ptr to a kind's interface, declared in that kind's header.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "cigl/export.hpp"
#include "cigl/params.hpp"

namespace cigl {

/// Context-free kinds pass this to their factory.
struct NoContext {};

/// Specialised in each kind's header: its Kind and factory context type.
template <class T>
struct ComponentTraits;

struct ComponentSpec {
  std::string name;
  std::string doc;  ///< one line for --list-plugins and --describe
  std::vector<ParamSpec> params;
};

/// Type-erased factory as the registry stores it.
using ErasedFactory =
    std::function<std::shared_ptr<void>(const Params&, const void* context)>;

/// Handed to a plugin's register function; `add` records one component.
class CIGL_API Registrar {
 public:
  virtual ~Registrar();

  /// `factory` is callable as `shared_ptr<T>(const Params&, const Context&)`
  /// or, for context-free kinds, `shared_ptr<T>(const Params&)`.
  template <class T, class F>
  void add(ComponentSpec spec, F factory) {
    using Context = typename ComponentTraits<T>::Context;
    ErasedFactory erased = [factory](
                               const Params& params,
                               const void* context) -> std::shared_ptr<void> {
      if constexpr (std::is_invocable_v<const F&, const Params&>) {
        (void)context;
        return std::shared_ptr<T>(factory(params));
      } else {
        return std::shared_ptr<T>(
            factory(params, *static_cast<const Context*>(context)));
      }
    };
    add_erased(ComponentTraits<T>::kind, std::move(spec), std::move(erased));
  }

 protected:
  virtual void add_erased(Kind kind, ComponentSpec spec,
                          ErasedFactory factory) = 0;
};

/// Lets a component build the nested components its parameters name (a
/// method's distribution or drop-fraction schedule). Objects it returns
/// keep their plugin library loaded.
class CIGL_API ComponentFactory {
 public:
  virtual ~ComponentFactory();

  template <class T>
  std::shared_ptr<T> create(
      const ComponentRef& ref,
      const typename ComponentTraits<T>::Context& context = {}) const {
    return std::static_pointer_cast<T>(create_erased(
        ComponentTraits<T>::kind, ref.name, *ref.params, &context));
  }

 protected:
  virtual std::shared_ptr<void> create_erased(Kind kind,
                                              const std::string& name,
                                              const Params& params,
                                              const void* context) const = 0;
};

}  // namespace cigl
