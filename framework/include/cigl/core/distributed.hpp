#pragma once
// Data-parallel runs: where a process stands among the ranks (from the
// environment torchrun, Slurm or `cigl-run --nproc` gives it), and the
// communicator the runner uses between them. The communicator hides
// LibTorch's c10d (TCPStore, ProcessGroupGloo, ProcessGroupNCCL) behind
// this header; its one implementation is framework/src/c10d_communicator.cpp,
// the only file that includes c10d, so a c10d API change is adapted there.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cigl/collectives.hpp"
#include "cigl/export.hpp"

namespace cigl {

/// Where this process stands in a data-parallel job.
struct RankEnvironment {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;  ///< on this node: picks the GPU
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";  ///< host of rank 0's store
  int master_port = 0;
  /// torchrun's agent already serves the store at the master's address
  /// (TORCHELASTIC_USE_AGENT_STORE=True): rank 0 connects to it too.
  bool agent_store = false;
  /// What set the ranks up: "torchrun" (RANK, WORLD_SIZE, ...; also what
  /// `cigl-run --nproc` gives its ranks), "slurm" (SLURM_PROCID, ...), or
  /// "" for a single process.
  std::string launcher;
};

/// Looks up an environment variable: its value, or nullopt when unset.
using Environment =
    std::function<std::optional<std::string>(const std::string& name)>;
/// This process's environment (getenv).
CIGL_API Environment process_environment();

/// The ranks the environment describes. torchrun's variables (RANK,
/// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT)
/// come first; else Slurm's (SLURM_PROCID, SLURM_NTASKS or
/// SLURM_STEP_NUM_TASKS, SLURM_LOCALID, the first host of
/// SLURM_STEP_NODELIST / SLURM_JOB_NODELIST / SLURM_NODELIST as master,
/// MASTER_PORT or a port derived from SLURM_JOB_ID); else one process.
/// A Slurm task of a one-task step is one process too. Throws ConfigError
/// naming the variable when a value is missing or malformed.
CIGL_API RankEnvironment rank_environment(const Environment& env);

/// The host names of a Slurm node list in its compressed form, e.g.
/// "gpu[01-03,07],login1" -> gpu01 gpu02 gpu03 gpu07 login1 (zero padding
/// kept; several bracket groups in one name expand as a product). Throws
/// ConfigError on a malformed list.
CIGL_API std::vector<std::string> expand_node_list(const std::string& list);

/// Settings of the [distributed] config section the communicator uses.
struct CommunicatorOptions {
  /// "gloo" or "nccl"; "auto": NCCL when the ranks train on CUDA and this
  /// build has it, else Gloo.
  std::string backend = "auto";
  bool cuda = false;             ///< the ranks' tensors live on CUDA
  double timeout_seconds = 300;  ///< for the store and every collective
};

/// A collective started without waiting (a gradient bucket's all-reduce).
class CIGL_API PendingCollective {
 public:
  virtual ~PendingCollective();
  /// Blocks until done; throws Error on failure or timeout.
  virtual void wait() = 0;
};

/// The runner's view of the ranks: the SDK's collectives plus what the
/// trainer and the run folder need.
class CIGL_API Communicator : public Collectives {
 public:
  ~Communicator() override;
  virtual int local_rank() const = 0;
  virtual std::string backend() const = 0;  ///< "gloo", "nccl", "single"

  /// all_reduce without waiting: the tensors must stay alive and untouched
  /// until wait() returns.
  virtual std::unique_ptr<PendingCollective> all_reduce_async(
      std::vector<torch::Tensor>& tensors, ReduceOp op = ReduceOp::sum) = 0;
  /// Every rank's `tensor` (the same shape and type on all), in rank order.
  virtual std::vector<torch::Tensor> all_gather(
      const torch::Tensor& tensor) = 0;

  /// Wall seconds this rank has spent inside collectives (waiting for
  /// them), since it connected: the communication share of a run.
  virtual double seconds_communicating() const = 0;
};

/// Connects to the other ranks: a TCPStore at the master's address (rank
/// 0 serves it unless torchrun's agent does), then a Gloo or NCCL process
/// group. Throws Error when a rank does not join within the timeout, or
/// when this build has no such backend.
CIGL_API std::shared_ptr<Communicator> connect_ranks(
    const RankEnvironment& env, const CommunicatorOptions& options);

/// Whether this build can run data-parallel (c10d with Gloo was found
/// when it was compiled), and whether it has NCCL.
CIGL_API bool distributed_available();
CIGL_API bool nccl_available();

// ------------------------------------------------------- data sharding

/// The example order of one epoch as DistributedSampler (drop_last=false)
/// pads it: `order` followed by its own first entries, repeated as needed,
/// up to the next multiple of `world_size`. Every rank pads the same
/// permutation the same way; the padding (at most world_size - 1 examples)
/// is trained twice in that epoch.
CIGL_API torch::Tensor padded_order(const torch::Tensor& order, int world_size);

/// This rank's share of one global batch (a slice of the padded order):
/// its entries rank, rank + world_size, ... as DistributedSampler assigns
/// them. With a batch size divisible by the world size, the union over the
/// ranks of step b's shares is exactly the single-process batch b.
CIGL_API torch::Tensor rank_share(const torch::Tensor& batch, int rank,
                                  int world_size);

/// Examples [begin, end) of an evaluation split of `n` that `rank`
/// scores: contiguous blocks of ceil(n / world_size), so the gathered
/// logits come back in the split's own order.
struct RowRange {
  std::int64_t begin = 0, end = 0;
};
CIGL_API RowRange evaluation_share(std::int64_t n, int rank, int world_size);

}  // namespace cigl
