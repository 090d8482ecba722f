#include "cigl/core/state_synced_optimizer.hpp"

namespace cigl {

StateSyncedOptimizer::StateSyncedOptimizer(std::shared_ptr<Optimizer> inner,
                                           std::function<void()> write_back,
                                           std::function<void()> forget)
    : inner_(std::move(inner)),
      write_back_(std::move(write_back)),
      forget_(std::move(forget)) {}

double StateSyncedOptimizer::base_lr() const { return inner_->base_lr(); }
void StateSyncedOptimizer::set_lr(double lr) { inner_->set_lr(lr); }
void StateSyncedOptimizer::zero_grad() { inner_->zero_grad(); }

void StateSyncedOptimizer::step() {
  write_back_();
  inner_->step();
}

void StateSyncedOptimizer::for_each_state(
    const torch::Tensor& param, const std::function<void(torch::Tensor&)>& fn) {
  write_back_();
  inner_->for_each_state(param, fn);
}

void StateSyncedOptimizer::reset_state(const torch::Tensor& param,
                                       const torch::Tensor& where) {
  write_back_();
  inner_->reset_state(param, where);
}

torch::Tensor StateSyncedOptimizer::momentum(const torch::Tensor& param) {
  write_back_();
  return inner_->momentum(param);
}

torch::optim::Optimizer* StateSyncedOptimizer::torch_optimizer() {
  write_back_();
  return inner_->torch_optimizer();
}

void StateSyncedOptimizer::save(
    torch::serialize::OutputArchive& archive) const {
  write_back_();
  inner_->save(archive);
}

void StateSyncedOptimizer::load(torch::serialize::InputArchive& archive) {
  inner_->load(archive);
  forget_();
}

}  // namespace cigl
