// Ranks from the environment, Slurm node lists, and how data is split
// between ranks. The c10d side is in c10d_communicator.cpp.
#include "cigl/core/distributed.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "cigl/error.hpp"

namespace cigl {

PendingCollective::~PendingCollective() = default;
Communicator::~Communicator() = default;

Environment process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

namespace {

/// A non-negative integer variable; ConfigError naming it otherwise.
int integer_variable(const std::string& name, const std::string& value,
                     int min) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size() || v < min || v > (1LL << 30)) {
    throw ConfigError("environment variable " + name + "=\"" + value +
                      "\": expected an integer >= " + std::to_string(min));
  }
  return static_cast<int>(v);
}

std::optional<int> optional_integer(const Environment& env,
                                    const std::string& name, int min) {
  auto value = env(name);
  if (!value || value->empty()) return std::nullopt;
  return integer_variable(name, *value, min);
}

int required_integer(const Environment& env, const std::string& name, int min,
                     const std::string& because) {
  auto value = optional_integer(env, name, min);
  if (!value) {
    throw ConfigError("environment variable " + name + " is not set, but " +
                      because);
  }
  return *value;
}

void check_rank(const RankEnvironment& r, const char* rank_name,
                const char* world_name) {
  if (r.rank >= r.world_size) {
    throw ConfigError(std::string("environment: ") + rank_name + "=" +
                      std::to_string(r.rank) + " is not below " + world_name +
                      "=" + std::to_string(r.world_size));
  }
}

}  // namespace

RankEnvironment rank_environment(const Environment& env) {
  RankEnvironment r;
  // torchrun (and cigl-run --nproc, which sets the same variables).
  if (env("RANK") || env("WORLD_SIZE")) {
    const std::string why =
        "RANK and WORLD_SIZE go together (torchrun sets "
        "both)";
    r.world_size = required_integer(env, "WORLD_SIZE", 1, why);
    r.rank = required_integer(env, "RANK", 0, why);
    check_rank(r, "RANK", "WORLD_SIZE");
    if (r.world_size == 1) return RankEnvironment{};
    r.launcher = "torchrun";
    r.local_rank = optional_integer(env, "LOCAL_RANK", 0).value_or(r.rank);
    r.local_world_size =
        optional_integer(env, "LOCAL_WORLD_SIZE", 1).value_or(r.world_size);
    if (auto addr = env("MASTER_ADDR"); addr && !addr->empty()) {
      r.master_addr = *addr;
    }
    r.master_port =
        required_integer(env, "MASTER_PORT", 1,
                         "WORLD_SIZE=" + std::to_string(r.world_size) +
                             " needs the port of rank 0's store");
    r.agent_store = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
    return r;
  }
  // Slurm: a task of an srun step. SLURM_STEP_NUM_TASKS is the step's
  // own count; SLURM_NTASKS the job's, which is the step's under srun.
  auto tasks = optional_integer(env, "SLURM_STEP_NUM_TASKS", 1);
  if (!tasks) tasks = optional_integer(env, "SLURM_NTASKS", 1);
  auto procid = optional_integer(env, "SLURM_PROCID", 0);
  if (!tasks || !procid || *tasks == 1) return r;
  r.launcher = "slurm";
  r.world_size = *tasks;
  r.rank = *procid;
  check_rank(r, "SLURM_PROCID", "SLURM_NTASKS");
  r.local_rank = optional_integer(env, "SLURM_LOCALID", 0).value_or(0);
  // "4" or "4(x2)"; only a plain count is used (it is informational).
  if (auto per_node = env("SLURM_NTASKS_PER_NODE")) {
    if (!per_node->empty() &&
        std::all_of(per_node->begin(), per_node->end(),
                    [](char c) { return std::isdigit(c) != 0; })) {
      r.local_world_size = std::max(1, std::atoi(per_node->c_str()));
    }
  }
  if (auto addr = env("MASTER_ADDR"); addr && !addr->empty()) {
    r.master_addr = *addr;
  } else {
    std::optional<std::string> list;
    for (const char* name :
         {"SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST"}) {
      if ((list = env(name)) && !list->empty()) break;
    }
    if (!list || list->empty()) {
      throw ConfigError(
          "environment: Slurm task " + std::to_string(r.rank) + " of " +
          std::to_string(r.world_size) +
          ", but no SLURM_JOB_NODELIST to find rank 0's host (set "
          "MASTER_ADDR)");
    }
    r.master_addr = expand_node_list(*list).front();
  }
  if (auto port = optional_integer(env, "MASTER_PORT", 1)) {
    r.master_port = *port;
  } else {
    // One port per job, below the usual ephemeral range, so two jobs
    // sharing a node do not meet.
    const int job = required_integer(
        env, "SLURM_JOB_ID", 0,
        "a multi-task Slurm step needs MASTER_PORT or SLURM_JOB_ID");
    r.master_port = 10000 + job % 20000;
  }
  return r;
}

std::vector<std::string> expand_node_list(const std::string& list) {
  auto fail = [&](const std::string& why) -> void {
    throw ConfigError("Slurm node list \"" + list + "\": " + why);
  };
  // Split at the commas outside brackets.
  std::vector<std::string> items;
  std::string current;
  int depth = 0;
  for (char c : list) {
    if (c == '[') ++depth;
    if (c == ']' && --depth < 0) fail("unbalanced ']'");
    if (c == ',' && depth == 0) {
      items.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  if (depth != 0) fail("unbalanced '['");
  items.push_back(current);

  std::vector<std::string> hosts;
  for (const auto& item : items) {
    if (item.empty()) fail("empty entry");
    std::vector<std::string> expanded = {""};
    std::size_t i = 0;
    while (i < item.size()) {
      if (item[i] != '[') {
        const std::size_t next = item.find('[', i);
        const std::string text = item.substr(i, next - i);
        for (auto& e : expanded) e += text;
        i = next == std::string::npos ? item.size() : next;
        continue;
      }
      const std::size_t close = item.find(']', i);
      const std::string ranges = item.substr(i + 1, close - i - 1);
      std::vector<std::string> values;
      std::size_t begin = 0;
      while (begin <= ranges.size()) {
        std::size_t end = ranges.find(',', begin);
        if (end == std::string::npos) end = ranges.size();
        const std::string range = ranges.substr(begin, end - begin);
        const std::size_t dash = range.find('-');
        const std::string low = range.substr(0, dash);
        const std::string high =
            dash == std::string::npos ? low : range.substr(dash + 1);
        auto digits = [](const std::string& s) {
          return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
            return std::isdigit(c) != 0;
          });
        };
        if (!digits(low) || !digits(high)) {
          fail("\"" + range + "\" is not a number or a range a-b");
        }
        const long long a = std::stoll(low), b = std::stoll(high);
        if (b < a) fail("\"" + range + "\" runs backwards");
        if (b - a > 100000) fail("\"" + range + "\" is too long");
        const std::size_t width = low.size();
        for (long long v = a; v <= b; ++v) {
          std::string s = std::to_string(v);
          if (s.size() < width) s.insert(0, width - s.size(), '0');
          values.push_back(s);
        }
        begin = end + 1;
      }
      std::vector<std::string> product;
      for (const auto& prefix : expanded) {
        for (const auto& v : values) product.push_back(prefix + v);
      }
      expanded = std::move(product);
      i = close + 1;
    }
    hosts.insert(hosts.end(), expanded.begin(), expanded.end());
  }
  return hosts;
}

torch::Tensor padded_order(const torch::Tensor& order, int world_size) {
  const std::int64_t n = order.size(0);
  const std::int64_t total = (n + world_size - 1) / world_size * world_size;
  if (total == n || n == 0) return order;
  const std::int64_t pad = total - n;
  // DistributedSampler: indices += indices[:pad], the permutation
  // repeated when the padding is longer than it.
  auto source = pad <= n ? order : order.repeat({(pad + n - 1) / n});
  return torch::cat({order, source.narrow(0, 0, pad)});
}

torch::Tensor rank_share(const torch::Tensor& batch, int rank, int world_size) {
  if (world_size == 1) return batch;
  return batch.slice(0, rank, batch.size(0), world_size).contiguous();
}

RowRange evaluation_share(std::int64_t n, int rank, int world_size) {
  const std::int64_t per = (n + world_size - 1) / world_size;
  RowRange r;
  r.begin = std::min(n, per * rank);
  r.end = std::min(n, r.begin + per);
  return r;
}

}  // namespace cigl
