#pragma once
// Which layers of a model run sparse kernels (training.sparse_kernels).
// The trainer builds a KernelRouting after the method's setup: every
// sparse-capable layer (cigl/layers.hpp) whose weight the method's MaskSet
// holds gets a SparseKernel, computing sparsely with "on", densely with
// "off", and with "auto" whichever was faster when both were timed on the
// layer's own shapes (forward and backward, as in SparseProp). The MaskSet
// stays the source of truth: a layer's compressed index is rebuilt when
// the mask's version changes, the dense weights stay the parameters, and
// steps on which the method needs the dense weight gradient
// (Method::needs_dense_gradient) run every layer densely.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>
#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

class MaskSet;
class Optimizer;
class Model;
class SparseKernel;
struct KernelStep;

/// One masked layer's kernel choice, for the run log and --inspect.
struct KernelChoice {
  std::string layer;  ///< the weight, e.g. "fc1.weight"
  bool sparse = false;
  std::string reason;  ///< e.g. "on", "auto: faster", "stride 2"
  double density = 1;  ///< of its mask when chosen
  double dense_ms = 0, sparse_ms = 0;  ///< auto's timings of one step
};

/// While alive, every sparse kernel on this thread computes densely (the
/// FLOP counter records the dense operations).
class CIGL_API DenseKernelsGuard {
 public:
  DenseKernelsGuard();
  ~DenseKernelsGuard();
  DenseKernelsGuard(const DenseKernelsGuard&) = delete;
  DenseKernelsGuard& operator=(const DenseKernelsGuard&) = delete;
  static bool active();

 private:
  bool previous_;
};

class CIGL_API KernelRouting {
 public:
  enum class Setting { off, on, automatic };
  /// "off", "on" or "auto".
  static Setting setting_from_name(const std::string& name);
  static const char* setting_name(Setting setting);
  /// The build of the inner loops in use: "avx2" or "portable".
  static const char* instruction_set();

  /// Nothing attached: every layer dense.
  KernelRouting();
  /// Attaches kernels to `model`'s sparse-capable layers whose weight
  /// `masks` holds (none if masks is null or the setting is off). With
  /// "auto", one forward pass on zeros of {batch_size, input_shape...}
  /// finds each layer's input shape, and each layer is timed on random
  /// data (from its own generator: the run's random numbers are not
  /// touched). CPU float32 only; on other devices every layer stays dense.
  KernelRouting(Model& model, const MaskSet* masks, Setting setting,
                const std::vector<std::int64_t>& input_shape,
                std::int64_t batch_size, torch::Device device);
  ~KernelRouting();
  KernelRouting(KernelRouting&&) noexcept;
  KernelRouting& operator=(KernelRouting&&) noexcept;

  /// Before each training step's forward pass: `dense_gradient` runs the
  /// step densely. With "auto", a layer whose mask density moved by more
  /// than a quarter since it was timed (GMP pruning) is timed again.
  void begin_step(bool dense_gradient);
  /// The training step's optimizer update. With SGD, a layer that ran
  /// sparsely in this step is updated at its active entries only, in
  /// O(nnz): its gradient there is zero, and so are its inactive weights
  /// and their momentum (the contract of Method::needs_dense_gradient), so
  /// SGD would leave them as they are. Its momentum at the entries is kept
  /// compact from one such step to the next, and the optimizer's own
  /// buffer lags behind until write_back_state(). Everything else, and
  /// any other optimizer, gets optimizer.step() (after the write-back).
  void optimizer_step(Optimizer& optimizer);
  /// Brings the optimizer's state up to date with the compact momentum:
  /// before anything else reads or changes that state (see
  /// StateSyncedOptimizer, which does it for methods and checkpoints).
  void write_back_state();
  /// Drops the compact momentum unwritten: the optimizer's state was
  /// replaced (a checkpoint loaded).
  void forget_state();
  /// Detaches every kernel (after write_back_state): the layers compute
  /// densely from here on (the final evaluation, after a method may have
  /// replaced the weights).
  void detach();

  Setting setting() const { return setting_; }
  const std::vector<KernelChoice>& choices() const { return choices_; }
  /// Lines for the run log: the setting and one line per masked layer.
  std::string summary() const;

  /// The choices, so that a resumed "auto" run computes as the original.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void time_layer(std::size_t i);
  /// Detaches every kernel, leaving the optimizer's state as it is (the
  /// routing is going, and with it whoever trained).
  void release() noexcept;

  Setting setting_ = Setting::off;
  std::shared_ptr<KernelStep> step_;
  struct Attached;
  std::vector<Attached> attached_;
  std::vector<KernelChoice> choices_;
  std::int64_t batch_size_ = 0;
};

}  // namespace cigl
