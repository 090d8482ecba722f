#pragma once
// The optimizer as methods and checkpoints see it while the sparse kernels
// keep SGD's momentum of sparse layers compact between steps (see
// KernelRouting::optimizer_step): every call that reads or changes the
// optimizer's state first has that state brought up to date, and loading
// a state drops the compact copies. The training step itself goes to the
// wrapped optimizer directly.
#include <functional>
#include <memory>

#include "cigl/export.hpp"
#include "cigl/optimizer.hpp"

namespace cigl {

class CIGL_API StateSyncedOptimizer : public Optimizer {
 public:
  /// `write_back` brings the state up to date; `forget` drops the compact
  /// copies after the state was replaced.
  StateSyncedOptimizer(std::shared_ptr<Optimizer> inner,
                       std::function<void()> write_back,
                       std::function<void()> forget);

  double base_lr() const override;
  void set_lr(double lr) override;
  void zero_grad() override;
  void step() override;
  void for_each_state(const torch::Tensor& param,
                      const std::function<void(torch::Tensor&)>& fn) override;
  void reset_state(const torch::Tensor& param,
                   const torch::Tensor& where) override;
  torch::Tensor momentum(const torch::Tensor& param) override;
  torch::optim::Optimizer* torch_optimizer() override;
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 private:
  std::shared_ptr<Optimizer> inner_;
  std::function<void()> write_back_, forget_;
};

}  // namespace cigl
