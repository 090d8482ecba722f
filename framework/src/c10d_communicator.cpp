// The communicator over LibTorch's c10d: a TCPStore for the rendezvous,
// then ProcessGroupGloo (CPU) or ProcessGroupNCCL (CUDA). This is the one
// file that includes c10d; its API moved between LibTorch 1.13 and 2.x
// (ProcessGroup became a front for Backend, Work moved out of
// ProcessGroup, options grew), so what changes is adapted here.
//
// c10d's collectives take a list of tensors meaning one replica per local
// device; a list of different tensors is flattened here into one buffer
// per type, reduced once, and copied back.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <utility>

#include <torch/version.h>

#include "cigl/core/distributed.hpp"
#include "cigl/error.hpp"

// LibTorch's CMake targets define USE_C10D_GLOO and USE_C10D_NCCL for the
// backends its build has; Gloo's own headers are a separate package on
// some systems (Debian: libgloo-dev).
#if defined(USE_C10D_GLOO) && __has_include(<gloo/algorithm.h>)
#define CIGL_HAVE_GLOO 1
#else
#define CIGL_HAVE_GLOO 0
#endif
#if CIGL_HAVE_GLOO && defined(USE_C10D_NCCL)
#define CIGL_HAVE_NCCL 1
#else
#define CIGL_HAVE_NCCL 0
#endif

#if CIGL_HAVE_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#if CIGL_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <ATen/ATen.h>

namespace cigl {

bool distributed_available() { return CIGL_HAVE_GLOO != 0; }
bool nccl_available() { return CIGL_HAVE_NCCL != 0; }

#if !CIGL_HAVE_GLOO

std::shared_ptr<Communicator> connect_ranks(const RankEnvironment&,
                                            const CommunicatorOptions&) {
  throw Error(
      "this cigl was built without data-parallel support: LibTorch's c10d "
      "Gloo headers were not found when it was compiled (Debian: install "
      "libgloo-dev and rebuild)");
}

#else

namespace {

using Clock = std::chrono::steady_clock;

// LibTorch 2 split ProcessGroup into a front and per-device Backends;
// the Gloo and NCCL groups are Backends there, ProcessGroups in 1.13.
#if TORCH_VERSION_MAJOR >= 2
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

c10d::ReduceOp to_c10d(ReduceOp op) {
  switch (op) {
    case ReduceOp::max: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    case ReduceOp::min: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case ReduceOp::sum: break;
  }
  return c10d::ReduceOp(c10d::ReduceOp::SUM);
}

/// Adds the wall time of its scope to a counter.
class Timed {
 public:
  explicit Timed(double& seconds) : seconds_(seconds), start_(Clock::now()) {}
  ~Timed() {
    seconds_ += std::chrono::duration<double>(Clock::now() - start_).count();
  }
  Timed(const Timed&) = delete;
  Timed& operator=(const Timed&) = delete;

 private:
  double& seconds_;
  Clock::time_point start_;
};

/// Tensors of one type, flattened into one buffer on the device the
/// backend needs, and copied back after the collective.
struct Flat {
  std::vector<torch::Tensor> targets;
  torch::Tensor buffer;
  bool in_place = false;  // the buffer is the one target itself

  void copy_back() {
    if (in_place) return;
    std::int64_t offset = 0;
    for (auto& t : targets) {
      const auto n = t.numel();
      t.view(-1).copy_(buffer.narrow(0, offset, n).view_as(t.view(-1)));
      offset += n;
    }
  }
};

std::vector<Flat> flatten(const std::vector<torch::Tensor>& tensors,
                          const torch::Device& device) {
  std::vector<Flat> groups;
  for (const auto& t : tensors) {
    if (!t.is_contiguous()) {
      throw Error("collective on a non-contiguous tensor");
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Flat& f) {
      return f.targets.front().scalar_type() == t.scalar_type() &&
             f.targets.front().device() == t.device();
    });
    if (it == groups.end()) {
      groups.push_back({{t}, {}});
    } else {
      it->targets.push_back(t);
    }
  }
  for (auto& g : groups) {
    if (g.targets.size() == 1 && g.targets.front().device() == device) {
      g.buffer = g.targets.front().view(-1);
      g.in_place = true;
      continue;
    }
    std::vector<torch::Tensor> parts;
    for (const auto& t : g.targets) parts.push_back(t.reshape(-1));
    g.buffer = torch::cat(parts).to(device);
  }
  return groups;
}

class C10dCommunicator;

class C10dPending final : public PendingCollective {
 public:
  C10dPending(C10dCommunicator& owner, std::vector<Flat> groups,
              std::vector<c10::intrusive_ptr<c10d::Work> > work)
      : owner_(owner), groups_(std::move(groups)), work_(std::move(work)) {}
  ~C10dPending() override;
  void wait() override;

 private:
  C10dCommunicator& owner_;
  std::vector<Flat> groups_;
  std::vector<c10::intrusive_ptr<c10d::Work> > work_;
  bool done_ = false;
};

class C10dCommunicator final : public Communicator {
 public:
  C10dCommunicator(const RankEnvironment& env,
                   const CommunicatorOptions& options)
      : rank_(env.rank),
        world_size_(env.world_size),
        local_rank_(env.local_rank),
        timeout_(std::chrono::milliseconds(
            static_cast<std::int64_t>(options.timeout_seconds * 1000))),
        where_(env.master_addr + ":" + std::to_string(env.master_port)) {
    backend_ = options.backend;
    if (backend_ == "auto") {
      backend_ = options.cuda && CIGL_HAVE_NCCL ? "nccl" : "gloo";
    }
    if (backend_ == "nccl" && !CIGL_HAVE_NCCL) {
      throw ConfigError(
          "distributed.backend = \"nccl\", but this LibTorch has no NCCL "
          "(a CPU build, or cigl was compiled without USE_C10D_NCCL); use "
          "\"gloo\" or \"auto\"");
    }
    if (backend_ == "nccl" && !options.cuda) {
      throw ConfigError(
          "distributed.backend = \"nccl\" needs the ranks on CUDA "
          "(experiment.device); use \"gloo\" on the CPU");
    }
    device_ = backend_ == "nccl"
                  ? torch::Device(torch::kCUDA,
                                  static_cast<c10::DeviceIndex>(local_rank_))
                  : torch::Device(torch::kCPU);
    const auto start = Clock::now();
    try {
      c10d::TCPStoreOptions store_options;
      store_options.port = static_cast<std::uint16_t>(env.master_port);
      store_options.isServer = env.rank == 0 && !env.agent_store;
      store_options.numWorkers = env.world_size;
      // Every rank counts itself in; the server waits for all of them.
      store_options.waitWorkers = true;
      store_options.timeout = timeout_;
      auto store =
          c10::make_intrusive<c10d::TCPStore>(env.master_addr, store_options);
      // Keys of this group apart from those of torchrun's agent.
      auto prefixed = c10::make_intrusive<c10d::PrefixStore>("cigl", store);
      group_ = make_group(prefixed);
    } catch (const std::exception& e) {
      const double waited =
          std::chrono::duration<double>(Clock::now() - start).count();
      throw Error("rank " + std::to_string(rank_) + " of " +
                  std::to_string(world_size_) +
                  " could not join the others at " + where_ + " within " +
                  std::to_string(static_cast<int>(waited)) + " s (" +
                  first_line(e.what()) +
                  "); were all ranks started, with the same MASTER_ADDR and "
                  "MASTER_PORT (under Slurm: with srun)?");
    }
  }

  int rank() const override { return rank_; }
  int world_size() const override { return world_size_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return backend_; }
  double seconds_communicating() const override { return seconds_; }

  void all_reduce(std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    all_reduce_async(tensors, op)->wait();
  }

  std::unique_ptr<PendingCollective> all_reduce_async(
      std::vector<torch::Tensor>& tensors, ReduceOp op) override {
    Timed timed(seconds_);
    auto groups = flatten(tensors, device_);
    std::vector<c10::intrusive_ptr<c10d::Work> > work;
    c10d::AllreduceOptions options;
    options.reduceOp = to_c10d(op);
    options.timeout = timeout_;
    for (auto& g : groups) {
      std::vector<torch::Tensor> one{g.buffer};
      work.push_back(
          guard("all-reduce", [&] { return group_->allreduce(one, options); }));
    }
    return std::make_unique<C10dPending>(*this, std::move(groups),
                                         std::move(work));
  }

  void broadcast(std::vector<torch::Tensor>& tensors, int root) override {
    Timed timed(seconds_);
    auto groups = flatten(tensors, device_);
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.timeout = timeout_;
    for (auto& g : groups) {
      std::vector<torch::Tensor> one{g.buffer};
      wait_for("broadcast", guard("broadcast", [&] {
                 return group_->broadcast(one, options);
               }));
      g.copy_back();
    }
  }

  std::vector<torch::Tensor> all_gather(const torch::Tensor& tensor) override {
    Timed timed(seconds_);
    auto input = tensor.contiguous().to(device_);
    std::vector<torch::Tensor> inputs{input};
    std::vector<std::vector<torch::Tensor> > outputs(1);
    for (int r = 0; r < world_size_; ++r) {
      outputs[0].push_back(torch::empty_like(input));
    }
    c10d::AllgatherOptions options;
    options.timeout = timeout_;
    wait_for("all-gather", guard("all-gather", [&] {
               return group_->allgather(outputs, inputs, options);
             }));
    for (auto& t : outputs[0]) t = t.to(tensor.device());
    return outputs[0];
  }

  /// Waits for `work`, turning c10d's multi-line errors into one line
  /// that says which rank and what.
  void wait_for(const char* what, const c10::intrusive_ptr<c10d::Work>& work) {
    try {
      work->wait(timeout_);
    } catch (const std::exception& e) {
      throw failure(what, e);
    }
  }

  double& seconds() { return seconds_; }

  Error failure(const char* what, const std::exception& e) const {
    return Error("rank " + std::to_string(rank_) + " of " +
                 std::to_string(world_size_) + ": " + what +
                 " between the ranks failed (" + first_line(e.what()) +
                 "); another rank has died or stopped responding (timeout " +
                 std::to_string(timeout_.count() / 1000) + " s)");
  }

 private:
  template <typename Start>
  c10::intrusive_ptr<c10d::Work> guard(const char* what, Start&& start) {
    try {
      return start();
    } catch (const std::exception& e) {
      throw failure(what, e);
    }
  }

  c10::intrusive_ptr<Group> make_group(
      const c10::intrusive_ptr<c10d::Store>& store) {
#if CIGL_HAVE_NCCL
    if (backend_ == "nccl") {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout_;
      return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank_,
                                                         world_size_, options);
    }
#endif
    auto options = c10d::ProcessGroupGloo::Options::create(timeout_);
    // The loopback device for a job on one host, else the address this
    // host's name resolves to (GLOO_SOCKET_IFNAME picks an interface).
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
      options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (where_.rfind("127.", 0) == 0 ||
               where_.rfind("localhost:", 0) == 0) {
      options->devices.push_back(
          c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank_,
                                                       world_size_, options);
  }

  int rank_, world_size_, local_rank_;
  std::chrono::milliseconds timeout_;
  std::string where_;
  std::string backend_;
  torch::Device device_ = torch::kCPU;
  c10::intrusive_ptr<Group> group_;
  double seconds_ = 0;
};

C10dPending::~C10dPending() {
  // A pending collective dropped unwaited (an exception unwinding) must
  // not return its buffers while the backend still writes into them.
  if (done_) return;
  for (auto& w : work_) {
    try {
      w->wait();
    } catch (...) {  // nothing may escape a destructor
    }
  }
}

void C10dPending::wait() {
  if (done_) return;
  Timed timed(owner_.seconds());
  done_ = true;
  for (auto& w : work_) owner_.wait_for("all-reduce", w);
  for (auto& g : groups_) g.copy_back();
}

}  // namespace

std::shared_ptr<Communicator> connect_ranks(
    const RankEnvironment& env, const CommunicatorOptions& options) {
  return std::make_shared<C10dCommunicator>(env, options);
}

#endif

}  // namespace cigl
