// Exact top-k within a subset, the selection of every topology update.
// On the CPU a radix select on integer keys that order as the scores do:
// a histogram of the keys' top 16 bits finds the bucket of the k-th
// entry, a partial sort of that bucket alone finds the entry itself, and
// one more pass collects everything ahead of it in index order. Three
// linear passes instead of LibTorch's topk, which on the million weights
// of a 1024 x 1024 layer took 10-20 ms (most of a RigL update), and ties
// go to the lower index instead of an order that depends on the
// LibTorch version.
#include "top_k.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "cigl/error.hpp"

namespace cigl {

namespace {

template <typename T>
struct KeyType;
template <>
struct KeyType<float> {
  using type = std::uint32_t;
};
template <>
struct KeyType<double> {
  using type = std::uint64_t;
};

/// A key that orders as the score does, larger scores larger keys (or
/// smaller ones, for the smallest): -0 counts as +0 and every NaN as one
/// value above +inf, as in LibTorch's topk.
template <typename T>
typename KeyType<T>::type key_of(T x, bool largest) {
  using Key = typename KeyType<T>::type;
  constexpr Key sign = Key{1} << (sizeof(Key) * 8 - 1);
  if (x == 0) x = 0;
  if (std::isnan(x)) x = std::numeric_limits<T>::quiet_NaN();
  Key u = 0;
  std::memcpy(&u, &x, sizeof u);
  u = (u & sign) != 0 ? ~u : (u | sign);
  return largest ? u : ~u;
}

[[noreturn]] void too_few(std::int64_t k, std::int64_t available) {
  throw Error("cannot select " + std::to_string(k) + " of " +
              std::to_string(available) + " candidates");
}

template <typename T>
torch::Tensor select_on_cpu(const T* scores, const bool* among, std::int64_t n,
                            std::int64_t k, bool largest) {
  using Key = typename KeyType<T>::type;
  constexpr int shift = static_cast<int>(sizeof(Key) * 8) - 16;
  const auto bucket_of = [](Key key) {
    return static_cast<std::size_t>(key >> shift);
  };
  // Key 0 marks the entries outside `among`: no score maps to it (it
  // would be a NaN, and NaNs map to one other key).
  std::vector<Key> keys(static_cast<std::size_t>(n));
  std::vector<std::uint32_t> count(std::size_t{1} << 16, 0);
  std::int64_t available = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!among[i]) {
      keys[static_cast<std::size_t>(i)] = 0;
      continue;
    }
    const Key key = key_of(scores[i], largest);
    keys[static_cast<std::size_t>(i)] = key;
    ++count[bucket_of(key)];
    ++available;
  }
  if (k > available) too_few(k, available);
  if (k <= 0) return torch::empty({0}, torch::kLong);

  // The bucket of the k-th largest key, and how many of its keys to take.
  std::int64_t ahead = 0;
  std::size_t bucket = count.size() - 1;
  while (ahead + count[bucket] < k) ahead += count[bucket--];
  const std::int64_t take = k - ahead;
  std::vector<std::pair<Key, std::int64_t>> members;
  members.reserve(count[bucket]);
  for (std::int64_t i = 0; i < n; ++i) {
    const Key key = keys[static_cast<std::size_t>(i)];
    if (bucket_of(key) == bucket && key != 0) members.emplace_back(key, i);
  }
  // The take-th of the bucket by key, descending, then index, ascending.
  const auto before = [](const std::pair<Key, std::int64_t>& a,
                         const std::pair<Key, std::int64_t>& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::nth_element(members.begin(), members.begin() + (take - 1), members.end(),
                   before);
  const auto last = members[static_cast<std::size_t>(take - 1)];

  // Everything ahead of it in that order, in index order (key 0 never is).
  torch::Tensor out = torch::empty({k}, torch::kLong);
  auto* o = out.data_ptr<std::int64_t>();
  std::int64_t j = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const Key key = keys[static_cast<std::size_t>(i)];
    if (key > last.first || (key == last.first && i <= last.second)) {
      o[j++] = i;
    }
  }
  TORCH_INTERNAL_ASSERT(j == k, "top-k selection took ", j, " of ", k);
  return out;
}

}  // namespace

torch::Tensor select_among(const torch::Tensor& scores,
                           const torch::Tensor& among, std::int64_t k,
                           bool largest) {
  // (The CPU path counts in 32 bits: a layer of 2^32 weights goes the
  // general way.)
  if (scores.is_cpu() && among.is_cpu() && scores.numel() == among.numel() &&
      scores.numel() < (std::int64_t{1} << 32)) {
    const auto mask = among.reshape(-1).to(torch::kBool).contiguous();
    auto s = scores.reshape(-1);
    if (s.scalar_type() != torch::kFloat) s = s.to(torch::kDouble);
    s = s.contiguous();
    if (s.scalar_type() == torch::kFloat) {
      return select_on_cpu(s.data_ptr<float>(), mask.data_ptr<bool>(),
                           s.numel(), k, largest);
    }
    return select_on_cpu(s.data_ptr<double>(), mask.data_ptr<bool>(), s.numel(),
                         k, largest);
  }
  // Elsewhere (a GPU): LibTorch's topk over the candidates alone (a fill
  // value for the others could tie with an infinite or NaN candidate),
  // ties in topk's own order.
  const auto candidates = among.reshape(-1).nonzero().squeeze(1);
  const auto available = candidates.numel();
  if (k > available) too_few(k, available);
  if (k <= 0) return torch::empty({0}, torch::kLong);
  const auto chosen =
      std::get<1>(scores.reshape(-1)
                      .index_select(0, candidates.to(scores.device()))
                      .to(torch::kDouble)
                      .topk(k, 0, largest, /*sorted=*/false));
  return candidates.index_select(0, chosen.to(candidates.device()));
}

}  // namespace cigl
