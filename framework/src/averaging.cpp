#include "cigl/core/averaging.hpp"

#include <cmath>

#include <torch/torch.h>

#include "cigl/error.hpp"
#include "cigl/sparse.hpp"

namespace cigl {

std::vector<torch::Tensor> Method::averaging_snapshot(
    const TrainContext& context) const {
  return context.model->parameters();
}

WeightAveraging::WeightAveraging(const Params& p)
    : enabled_(p.boolean("enabled")),
      from_(p.number("from")),
      fraction_(p.string("unit") == "fraction"),
      recompute_batchnorm_(p.boolean("recompute_batchnorm")) {
  if (fraction_ && from_ > 1) {
    p.fail("from",
           "is a fraction of the epochs (unit = \"fraction\"), so "
           "at most 1");
  }
}

std::int64_t WeightAveraging::first_epoch(std::int64_t epochs) const {
  const double epoch = fraction_ ? from_ * static_cast<double>(epochs) : from_;
  return std::max<std::int64_t>(1, std::llround(epoch));
}

void WeightAveraging::on_epoch_end(std::int64_t epoch,
                                   const TrainContext& context,
                                   const Method& method) {
  if (!enabled_ || epoch < first_epoch(context.epochs)) return;
  torch::NoGradGuard no_grad;
  auto snapshot = method.averaging_snapshot(context);
  if (mean_.empty()) {
    for (const auto& t : snapshot) mean_.push_back(t.detach().clone());
  } else {
    if (snapshot.size() != mean_.size()) {
      throw Error(
          "weight averaging: the model has " + std::to_string(snapshot.size()) +
          " parameters now, the average " + std::to_string(mean_.size()));
    }
    // The running mean of n + 1 snapshots, as the official
    // moving_average(model_swa, model, 1 / (n + 1))
    // (sparselearning/utils/utils_ens.py:74-77).
    const double n = static_cast<double>(count_);
    for (std::size_t j = 0; j < mean_.size(); ++j) {
      mean_[j].mul_(n / (n + 1)).add_(snapshot[j], 1.0 / (n + 1));
    }
  }
  ++count_;
}

bool WeightAveraging::apply(
    TrainContext& context,
    const std::function<void(const std::function<void(const torch::Tensor&,
                                                      const torch::Tensor&)>&)>&
        training_batches) {
  if (!enabled_ || count_ == 0) return false;
  {
    torch::NoGradGuard no_grad;
    auto params = context.model->parameters();
    if (params.size() != mean_.size()) {
      throw Error("weight averaging: the model has " +
                  std::to_string(params.size()) + " parameters, the average " +
                  std::to_string(mean_.size()));
    }
    for (std::size_t j = 0; j < params.size(); ++j) params[j].copy_(mean_[j]);
  }
  // The official code calls bn_update only from the second snapshot on
  // (main.py:383-391).
  if (recompute_batchnorm_ && count_ > 1) {
    TrainContext augmented = context;
    augmented.for_each_train_batch = training_batches;
    recompute_batchnorm(augmented);
  }
  return true;
}

void WeightAveraging::save(torch::serialize::OutputArchive& archive) const {
  archive.write("count", torch::tensor(count_));
  for (std::size_t j = 0; j < mean_.size(); ++j) {
    archive.write("mean/" + std::to_string(j), mean_[j]);
  }
}

void WeightAveraging::load(torch::serialize::InputArchive& archive) {
  torch::Tensor count;
  archive.read("count", count);
  count_ = count.item<std::int64_t>();
  mean_.clear();
  if (count_ == 0) return;
  for (std::size_t j = 0;; ++j) {
    torch::Tensor t;
    if (!archive.try_read("mean/" + std::to_string(j), t)) break;
    mean_.push_back(t);
  }
}

}  // namespace cigl
