#include "cigl/core/data_parallel.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "cigl/error.hpp"
#include "cigl/masking.hpp"

namespace cigl {

GradientSync::GradientSync(const std::vector<torch::Tensor>& parameters,
                           Communicator& ranks, double bucket_mb, bool overlap)
    : parameters_(parameters), ranks_(ranks), overlap_(overlap) {
  const auto cap = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(bucket_mb * 1024 * 1024));
  const std::size_t n = parameters_.size();
  bucket_of_.assign(n, 0);
  offset_of_.assign(n, 0);
  seen_.assign(n, false);
  Bucket current;
  std::int64_t numel = 0;
  auto close = [&] {
    if (current.members.empty()) return;
    current.flat =
        torch::zeros({numel}, parameters_[current.members.front()].options());
    buckets_.push_back(std::move(current));
    current = Bucket{};
    numel = 0;
  };
  // Reverse registration order: roughly the order in which the backward
  // pass produces the gradients.
  for (std::size_t k = n; k-- > 0;) {
    const auto& p = parameters_[k];
    if (!p.requires_grad()) continue;
    if (!current.members.empty()) {
      const auto& first = parameters_[current.members.front()];
      const bool full =
          (numel + p.numel()) * static_cast<std::int64_t>(p.element_size()) >
          cap;
      if (full || first.scalar_type() != p.scalar_type() ||
          first.device() != p.device()) {
        close();
      }
    }
    bucket_of_[k] = buckets_.size();
    offset_of_[k] = numel;
    current.members.push_back(k);
    current.offsets.push_back(numel);
    numel += p.numel();
  }
  close();
  if (overlap_) {
    for (std::size_t k = 0; k < n; ++k) {
      if (!parameters_[k].requires_grad()) continue;
      hooks_.push_back(parameters_[k].register_hook(
          [this, k](const torch::Tensor& grad) { on_gradient(k, grad); }));
    }
  }
}

GradientSync::~GradientSync() {
  std::size_t h = 0;
  for (auto& p : parameters_) {
    if (overlap_ && p.requires_grad() && h < hooks_.size()) {
      p.remove_hook(hooks_[h++]);
    }
  }
}

void GradientSync::begin() {
  armed_ = overlap_;
  next_launch_ = 0;
  std::fill(seen_.begin(), seen_.end(), false);
  for (auto& b : buckets_) {
    b.filled = 0;
    b.pending.reset();
  }
}

void GradientSync::on_gradient(std::size_t parameter,
                               const torch::Tensor& grad) {
  if (!armed_) return;  // a backward pass outside a training step
  torch::NoGradGuard no_grad;
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  auto slot = bucket.flat.narrow(0, offset_of_[parameter],
                                 parameters_[parameter].numel());
  if (seen_[parameter]) {  // a second contribution to the same gradient
    slot.add_(grad.reshape(-1));
    return;
  }
  slot.copy_(grad.reshape(-1));
  seen_[parameter] = true;
  if (++bucket.filled == bucket.members.size()) launch_filled();
}

void GradientSync::launch_filled() {
  // Strictly in bucket order, so every rank starts the same collectives
  // in the same sequence whatever order its gradients arrive in.
  while (next_launch_ < buckets_.size() &&
         buckets_[next_launch_].filled ==
             buckets_[next_launch_].members.size()) {
    Bucket& b = buckets_[next_launch_++];
    std::vector<torch::Tensor> tensors{b.flat};
    b.pending = ranks_.all_reduce_async(tensors, ReduceOp::sum);
  }
}

void GradientSync::fill_from_grads(Bucket& bucket) {
  for (std::size_t m = 0; m < bucket.members.size(); ++m) {
    const std::size_t k = bucket.members[m];
    if (seen_[k]) continue;
    auto slot =
        bucket.flat.narrow(0, bucket.offsets[m], parameters_[k].numel());
    const auto& grad = parameters_[k].grad();
    if (grad.defined()) {
      slot.copy_(grad.reshape(-1));
    } else {
      slot.zero_();
    }
    seen_[k] = true;
  }
  bucket.filled = bucket.members.size();
}

void GradientSync::finish() {
  armed_ = false;
  torch::NoGradGuard no_grad;
  for (std::size_t b = next_launch_; b < buckets_.size(); ++b) {
    fill_from_grads(buckets_[b]);
  }
  launch_filled();
  const double world = ranks_.world_size();
  for (auto& b : buckets_) {
    b.pending->wait();
    b.pending.reset();
    b.flat.div_(world);
    for (std::size_t m = 0; m < b.members.size(); ++m) {
      auto& p = parameters_[b.members[m]];
      auto average = b.flat.narrow(0, b.offsets[m], p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(average);
      } else {
        p.mutable_grad() = average.clone();
      }
    }
  }
}

std::int64_t mask_checksum(const torch::Tensor& mask) {
  const auto bytes = mask.to(torch::kCPU, torch::kBool).contiguous();
  const auto* data = static_cast<const unsigned char*>(bytes.data_ptr());
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a, 64 bits
  for (std::int64_t i = 0; i < bytes.numel(); ++i) {
    hash ^= data[i];
    hash *= 1099511628211ull;
  }
  // 62 bits, so the negated value fits too (see check_masks_agree).
  return static_cast<std::int64_t>(hash & ((1ull << 62) - 1));
}

void check_masks_agree(const MaskSet& masks, Collectives& ranks,
                       const std::string& when) {
  const auto n = static_cast<std::int64_t>(masks.size());
  if (ranks.world_size() == 1 || n == 0) return;
  // The largest and (negated) the smallest checksum of every layer over
  // the ranks, in one all-reduce: they differ exactly where a rank's
  // mask does.
  auto sums = torch::empty({2 * n}, torch::kLong);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto h = mask_checksum(masks.mask(static_cast<std::size_t>(i)));
    sums[i] = h;
    sums[n + i] = -h;
  }
  std::vector<torch::Tensor> tensors{sums};
  ranks.all_reduce(tensors, ReduceOp::max);
  std::string differing;
  auto s = sums.accessor<std::int64_t, 1>();
  for (std::int64_t i = 0; i < n; ++i) {
    if (s[i] != -s[n + i]) {
      differing += (differing.empty() ? "" : ", ") +
                   masks.name(static_cast<std::size_t>(i));
    }
  }
  if (!differing.empty()) {
    throw Error("the ranks' masks differ " + when + ", in layer " + differing +
                ": every rank must take the same topology decisions (a "
                "method may decide from gradients, weights and its own "
                "generator; data only one rank holds must be combined "
                "with TrainContext::collectives)");
  }
}

void average_running_stats(torch::nn::Module& model, Collectives& ranks) {
  if (ranks.world_size() == 1) return;
  std::vector<torch::Tensor> stats;
  for (const auto& item : model.named_buffers(/*recurse=*/true)) {
    const std::string& name = item.key();
    const auto dot = name.rfind('.');
    const std::string leaf =
        dot == std::string::npos ? name : name.substr(dot + 1);
    if ((leaf == "running_mean" || leaf == "running_var") &&
        item.value().is_floating_point()) {
      stats.push_back(item.value());
    }
  }
  if (stats.empty()) return;
  torch::NoGradGuard no_grad;
  ranks.all_reduce(stats, ReduceOp::sum);
  for (auto& t : stats) t.div_(ranks.world_size());
}

torch::Tensor gather_rows(const torch::Tensor& local, std::int64_t n,
                          std::int64_t columns, Communicator& ranks) {
  const int world = ranks.world_size();
  const std::int64_t per = (n + world - 1) / world;
  auto block = torch::zeros({per, columns}, local.options());
  if (local.size(0) > 0) block.narrow(0, 0, local.size(0)).copy_(local);
  auto all = torch::cat(ranks.all_gather(block));
  return all.narrow(0, 0, n);
}

}  // namespace cigl
