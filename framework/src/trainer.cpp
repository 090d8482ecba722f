#include "cigl/core/trainer.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include "cigl/core/averaging.hpp"
#include "cigl/core/calibration.hpp"
#include "cigl/core/data_parallel.hpp"
#include "cigl/core/device.hpp"
#include "cigl/core/kernel_routing.hpp"
#include "cigl/core/model_file.hpp"
#include "cigl/core/signals.hpp"
#include "cigl/core/state_synced_optimizer.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/metric.hpp"
#include "cigl/optimizer.hpp"
#include "cigl/random.hpp"
#include "cigl/schedule.hpp"

namespace F = torch::nn::functional;

namespace cigl {

namespace {

/// With several ranks on CUDA, one GPU per local rank ("cuda" and "auto"
/// name no index: the rank's own).
torch::Device rank_device(torch::Device device, const std::string& wanted,
                          int local_rank) {
  if (!device.is_cuda() || local_rank == 0 || wanted.rfind("cuda:", 0) == 0) {
    return device;
  }
  const auto gpus = static_cast<int>(torch::cuda::device_count());
  if (local_rank >= gpus) {
    throw ConfigError("local rank " + std::to_string(local_rank) +
                      " has no GPU of its own: " + std::to_string(gpus) +
                      " visible; start at most one rank per GPU on a node");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank));
}

/// A distinct seed for each rank's own stream; rank 0 keeps `base`, so a
/// one-rank run draws exactly what a single process does.
std::uint64_t rank_seed(std::uint64_t base, int rank) {
  return base + 0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(rank);
}

DataSplit take(const DataSplit& split, const torch::Tensor& index) {
  return {split.inputs.index_select(0, index),
          split.labels.index_select(0, index)};
}

DataSplit to_device(const DataSplit& split, torch::Device device) {
  return {split.inputs.to(device), split.labels.to(device)};
}

/// Thrown by TrainContext::for_each_train_batch when no data was loaded
/// (--inspect): the trainer loads the data and builds again, so a method
/// that scores weights on data (SNIP) shows its real masks.
struct NeedsTrainingData {};

/// Training loss is copied to the host (a device sync) once per this many
/// steps, not after every step.
constexpr std::int64_t kLossCheckEvery = 10;
/// A window's mean loss this many times the first step's (or chance
/// level's, if higher) is reported as divergence.
constexpr double kDivergenceFactor = 100;

}  // namespace

namespace {
std::atomic<int> default_threads{0};
}  // namespace

void set_default_cpu_threads(int threads) {
  default_threads = std::max(0, threads);
}

int cpu_threads(std::int64_t requested, std::string* warning) {
  const auto cores = static_cast<std::int64_t>(
      std::max(1u, std::thread::hardware_concurrency()));
  if (requested == 0) {
    // LibTorch's own default is not all cores (Debian's 1.13 takes one).
    requested = default_threads.load();
    const char* omp = std::getenv("OMP_NUM_THREADS");
    if (requested == 0 && omp) requested = std::max(0, std::atoi(omp));
    if (requested == 0) return static_cast<int>(cores);
  }
  if (requested > cores) {
    if (warning) {
      *warning = "experiment.threads = " + std::to_string(requested) +
                 ", but this machine has " + std::to_string(cores) +
                 " cores; using " + std::to_string(cores);
    }
    return static_cast<int>(cores);
  }
  return static_cast<int>(requested);
}

struct Trainer::Impl {
  ExperimentConfig config;
  const Registry& registry;
  torch::Device device = torch::kCPU;
  Precision precision = Precision::fp32;
  // Image batches channels-last: convolutions then run in that layout.
  // Weights keep theirs, so masks and methods' flat views stay valid.
  bool channels_last = false;
  std::uint64_t seed = 0;
  DataSplit train, validation, test;
  std::shared_ptr<Dataset> dataset;
  DatasetInfo info;
  bool timetable_known = true;  // false: --inspect of an unsized dataset
  std::shared_ptr<Model> model;
  std::shared_ptr<Optimizer> optimizer;
  // What methods and checkpoints use: `optimizer` with its state brought
  // up to date from the sparse kernels' compact momentum first.
  std::shared_ptr<Optimizer> synced_optimizer;
  std::unique_ptr<WeightAveraging> averaging;
  std::shared_ptr<Schedule> schedule;
  std::shared_ptr<Method> method;
  std::vector<std::pair<std::string, std::shared_ptr<Metric>>> metrics;
  // On the training device, so a GPU step draws without host work.
  torch::Generator shuffle_generator;
  torch::Generator augment_generator;  // the dataset's training augmentation
  TrainContext context;
  std::int64_t batch_size = 0, eval_batch_size = 0, epochs = 0;
  std::int64_t steps_per_epoch = 0, eval_every = 1;
  double base_lr = 0, label_smoothing = 0;
  bool finalized = false;
  double seconds_before = 0;  // training time before the current call
  // Set while train_epoch runs, so a state saved mid-epoch counts the
  // time of the epoch so far.
  std::optional<std::chrono::steady_clock::time_point> call_started;

  // Where training stands inside the current epoch: a checkpoint can be
  // taken at any step boundary and resumed there exactly.
  struct EpochCursor {
    std::int64_t batch = 0;  // steps of this epoch done; 0: not begun
    torch::Tensor order;     // this epoch's shuffled example order
    torch::Tensor loss_sum;  // of the steps done, on the device
    double lr = 0;           // of the last step done
  };
  EpochCursor cursor;
  std::vector<std::string> warnings;
  // Losses of the steps since the last check, on the device, with their
  // step and batch numbers (1-based).
  std::vector<torch::Tensor> pending_losses;
  std::vector<std::pair<std::int64_t, std::int64_t>> pending_steps;
  std::optional<double> first_loss;  // of the first step checked
  bool divergence_reported = false;
  std::string building;  // what build() is doing, for its error messages
  // Last: detaches its kernels from the model before anything else goes.
  KernelRouting kernels;

  // A data-parallel run: this trainer is rank `rank` of `world`.
  std::shared_ptr<Communicator> ranks;
  int rank = 0, world = 1;
  std::unique_ptr<GradientSync>
      gradient_sync;       // after the model: unhooks first
  std::string mask_trace;  // CIGL_TEST_MASK_TRACE: tests compare masks

  using Mode = Trainer::Mode;
  Impl(const ExperimentConfig& c, const Registry& r,
       std::shared_ptr<Communicator> comm)
      : config(c), registry(r), ranks(std::move(comm)) {
    if (ranks) {
      rank = ranks->rank();
      world = ranks->world_size();
    }
    if (const char* trace = std::getenv("CIGL_TEST_MASK_TRACE")) {
      mask_trace = trace;
    }
  }

  Collectives& collectives() const {
    return ranks ? static_cast<Collectives&>(*ranks)
                 : Collectives::single_process();
  }

  /// build(), with anything LibTorch throws made one line naming the step
  /// (a DataError while loading data, else a ConfigError: nothing ran).
  void build_reporting(Mode mode) {
    try {
      build(mode);
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      const std::string what = building + ": " + one_line(e);
      if (building.rfind("loading", 0) == 0) throw DataError(what);
      throw ConfigError(what);
    }
  }

  void build(Mode mode) {
    const Params& e = config.experiment;
    const Params& t = config.training;
    seed = static_cast<std::uint64_t>(e.integer("seed"));
    try {
      device = rank_device(resolve_device(e.string("device")),
                           e.string("device"), ranks ? ranks->local_rank() : 0);
    } catch (const ConfigError& error) {
      e.fail("device", error.what());
    }
    precision = precision_from_name(e.string("precision"));
    channels_last = e.boolean("channels_last");
    std::string warning;
    torch::set_num_threads(cpu_threads(e.integer("threads"), &warning));
    if (!warning.empty()) warnings.push_back(warning);
    batch_size = t.integer("batch_size");
    check_world_size(config, world);
    if (world > 1 && t.string("sparse_kernels") != "off") {
      t.fail("sparse_kernels",
             "the sparse kernels do not yet run in a data-parallel run (" +
                 std::to_string(world) + " ranks); use \"off\"");
    }
    eval_batch_size = t.integer("eval_batch_size");
    epochs = t.integer("epochs");
    eval_every = t.integer("eval_every");
    const bool temperature_scaling = e.boolean("temperature_scaling");
    label_smoothing = t.number("label_smoothing");
    averaging = std::make_unique<WeightAveraging>(config.averaging);

    dataset = registry.make<Dataset>(config.data.plugin, config.data.params);
    info = dataset->info();
    if (mode == Mode::build_only) {
      // The real timetable where the dataset knows its size (methods and
      // training FLOPs depend on it), else one step per epoch.
      const std::int64_t n = info.train_examples;
      const auto n_val = static_cast<std::int64_t>(
          std::floor(t.number("validation_fraction") * static_cast<double>(n)));
      timetable_known = n - n_val > 0;
      steps_per_epoch =
          timetable_known ? (n - n_val + batch_size - 1) / batch_size : 1;
      try {
        build_model_and_method(info);
        return;
      } catch (const NeedsTrainingData&) {
        // The method scores weights on data: load it and build again.
        metrics.clear();
      }
    }
    building = "loading data/" + config.data.plugin;
    DataBundle bundle = dataset->load();
    timetable_known = true;
    check_split(bundle.train, "train", info);
    check_split(bundle.test, "test", info);
    if (bundle.test.size() == 0) {
      throw DataError("dataset " + config.data.plugin +
                      ": the test split is empty (nothing to evaluate; check "
                      "data.test_limit and the data files)");
    }

    // Hold out a seeded random validation share of the training set.
    const std::int64_t n = bundle.train.size();
    const auto n_val = static_cast<std::int64_t>(
        std::floor(t.number("validation_fraction") * static_cast<double>(n)));
    auto split_generator = at::make_generator<at::CPUGeneratorImpl>(seed + 1);
    auto order = torch::randperm(n, split_generator, torch::kLong);
    validation =
        to_device(take(bundle.train, order.narrow(0, 0, n_val)), device);
    train = to_device(take(bundle.train, order.narrow(0, n_val, n - n_val)),
                      device);
    test = to_device(bundle.test, device);
    if (train.size() < 1) {
      throw DataError(bundle.train.size() == 0
                          ? "the dataset's training split is empty"
                          : "training.validation_fraction leaves no "
                            "training data");
    }
    if (temperature_scaling && validation.size() == 0) {
      char fraction[32];
      std::snprintf(fraction, sizeof fraction, "%g",
                    t.number("validation_fraction"));
      throw ConfigError(
          "experiment.temperature_scaling fits on the validation split, but "
          "training.validation_fraction = " +
          std::string(fraction) + " of " + std::to_string(n) +
          " training examples holds none");
    }
    // Each epoch's order is padded to a multiple of the world size
    // (padded_order); with a batch divisible by it that adds no step.
    const std::int64_t padded = (train.size() + world - 1) / world * world;
    steps_per_epoch = (padded + batch_size - 1) / batch_size;
    shuffle_generator = make_generator(device, seed + 2);
    // Each rank augments its own share with its own stream.
    augment_generator = make_generator(device, rank_seed(seed + 3, rank));
    build_model_and_method(info);
  }

  void build_model_and_method(const DatasetInfo& info) {
    torch::manual_seed(seed);  // model initialisation
    building = "building model/" + config.model.plugin;
    model =
        registry.make<Model>(config.model.plugin, config.model.params,
                             ModelContext{info.input_shape, info.num_classes});
    if (!config.model_init_from.empty()) {
      load_model_state(*model, read_model_file(config.model_init_from).state,
                       config.model_init_from);
    }
    model->to(device);
    if (ranks) {
      // Rank 0's initial weights on every rank, as DistributedDataParallel
      // does, whatever a device's initialisation kernels did.
      torch::NoGradGuard no_grad;
      std::vector<torch::Tensor> state = model->parameters();
      for (const auto& b : model->buffers()) state.push_back(b);
      ranks->broadcast(state, 0);
    }
    building = "building the optimizer";

    OptimizerContext optimizer_context;
    for (const auto& p : model->named_parameters()) {
      optimizer_context.parameters.push_back({p.key(), p.value()});
    }
    optimizer = registry.make<Optimizer>(
        config.optimizer.plugin, config.optimizer.params, optimizer_context);
    base_lr = optimizer->base_lr();
    synced_optimizer = std::make_shared<StateSyncedOptimizer>(
        optimizer, [this] { kernels.write_back_state(); },
        [this] { kernels.forget_state(); });

    schedule = registry.make<Schedule>(
        config.schedule.plugin, config.schedule.params,
        ScheduleContext{base_lr, steps_per_epoch * epochs, steps_per_epoch});
    for (const auto& m : config.metrics) {
      metrics.emplace_back(m.label, registry.make<Metric>(m.plugin, m.params));
    }
    method = registry.make<Method>(config.method.plugin, config.method.params);

    context.model = model;
    context.optimizer = synced_optimizer.get();
    context.device = device;
    context.seed = seed;
    context.total_steps = steps_per_epoch * epochs;
    context.steps_per_epoch = steps_per_epoch;
    context.epochs = epochs;
    context.components = &registry;
    context.collectives = &collectives();
    context.for_each_train_batch = [this](const auto& fn) {
      if (!train.labels.defined()) throw NeedsTrainingData{};
      for (std::int64_t begin = 0; begin < train.size();
           begin += eval_batch_size) {
        auto len = std::min(eval_batch_size, train.size() - begin);
        fn(train.inputs.narrow(0, begin, len),
           train.labels.narrow(0, begin, len));
      }
    };
    building = "setting up method/" + config.method.plugin;
    method->setup(context);
    building.clear();
    kernels = KernelRouting(*model, method->mask_set(),
                            KernelRouting::setting_from_name(
                                config.training.string("sparse_kernels")),
                            info.input_shape, batch_size, device);
    check_masks("after the method's setup");
    if (ranks) {
      const Params& d = config.distributed;
      gradient_sync = std::make_unique<GradientSync>(
          model->parameters(), *ranks, d.number("bucket_mb"),
          d.boolean("overlap"));
      // Dropout and whatever else draws from the global generator: a
      // stream of each rank's own from here on (the initialisation above
      // was the same everywhere).
      if (rank > 0) torch::manual_seed(rank_seed(seed + 4, rank));
    }
  }

  /// Checks that every rank holds the same masks (one small all-reduce);
  /// throws Error naming the layers that differ.
  void check_masks(const std::string& when) {
    const MaskSet* masks = method->mask_set();
    if (!masks) return;
    if (ranks) check_masks_agree(*masks, *ranks, when);
    if (!mask_trace.empty()) {
      std::ofstream out(mask_trace + ".rank" + std::to_string(rank),
                        std::ios::app);
      for (std::size_t i = 0; i < masks->size(); ++i) {
        out << rank << " " << context.step << " " << masks->name(i) << " "
            << mask_checksum(masks->mask(i)) << "\n";
      }
    }
  }

  static void check_split(const DataSplit& split, const char* name,
                          const DatasetInfo& info) {
    auto fail = [&](const std::string& what) {
      throw DataError(std::string("dataset ") + name + " split: " + what);
    };
    if (!split.inputs.defined() || !split.labels.defined()) fail("missing");
    if (!split.inputs.is_floating_point())
      fail("inputs are not floating point");
    if (split.labels.scalar_type() != torch::kLong || split.labels.dim() != 1) {
      fail("labels are not a 1-D int64 tensor");
    }
    if (split.inputs.size(0) != split.labels.size(0)) {
      fail("inputs and labels differ in count");
    }
    auto shape = split.inputs.sizes().vec();
    shape.erase(shape.begin());
    if (shape != info.input_shape) fail("inputs have an unexpected shape");
    if (split.size() > 0 &&
        (split.labels.min().item<std::int64_t>() < 0 ||
         split.labels.max().item<std::int64_t>() >= info.num_classes)) {
      fail("labels outside [0, " + std::to_string(info.num_classes) + ")");
    }
  }

  /// The training split in a seeded random order, in training batches,
  /// with the training augmentation: what the official bn_update sees
  /// (main.py:391 of StevenBoys/CigL passes the training loader). Its own
  /// generators, so it draws nothing from the training run's.
  void for_each_augmented_train_batch(
      const std::function<void(const torch::Tensor&, const torch::Tensor&)>&
          fn) {
    auto order_generator = at::make_generator<at::CPUGeneratorImpl>(seed + 5);
    auto draw_generator = make_generator(device, seed + 6);
    auto order =
        torch::randperm(train.size(), order_generator, torch::kLong).to(device);
    for (std::int64_t begin = 0; begin < train.size(); begin += batch_size) {
      auto index =
          order.narrow(0, begin, std::min(batch_size, train.size() - begin));
      fn(dataset->augment(train.inputs.index_select(0, index), draw_generator),
         train.labels.index_select(0, index));
    }
  }

  double density() const {
    std::int64_t nonzero = 0, total = 0;
    for (const auto& p : maskable_parameters(*model)) {
      nonzero += p.weight.count_nonzero().item<std::int64_t>();
      total += p.weight.numel();
    }
    return total == 0
               ? 1.0
               : static_cast<double>(nonzero) / static_cast<double>(total);
  }

  /// Puts the model in eval mode for its scope, back to train after.
  struct EvalMode {
    explicit EvalMode(Model& m) : model(m) { model.eval(); }
    ~EvalMode() { model.train(); }
    Model& model;
  };

  /// One forward pass over `split`: float64 logits on the CPU. Non-finite
  /// logits stop the run with the split and batch named.
  torch::Tensor logits_of(const DataSplit& split, const char* split_name) {
    torch::NoGradGuard no_grad;
    if (ranks) average_running_stats(*model, *ranks);
    EvalMode eval_mode(*model);
    // Each rank scores its contiguous share (evaluation_share) and every
    // rank gets all rows.
    const RowRange share = evaluation_share(split.size(), rank, world);
    std::vector<torch::Tensor> all;
    for (std::int64_t begin = share.begin; begin < share.end;
         begin += eval_batch_size) {
      auto len = std::min(eval_batch_size, share.end - begin);
      all.push_back(model->forward(split.inputs.narrow(0, begin, len))
                        .to(torch::kCPU, torch::kDouble));
    }
    auto logits = all.empty()
                      ? torch::empty({0, info.num_classes}, torch::kDouble)
                      : torch::cat(all);
    if (ranks) {
      logits = gather_rows(logits, split.size(), info.num_classes, *ranks);
    }
    // Checked once gathered, so every rank stops alike.
    auto finite = torch::isfinite(logits).all(1);
    if (!finite.all().item<bool>()) {
      const auto row =
          finite.logical_not().nonzero()[0][0].item<std::int64_t>();
      const std::int64_t batch = row / eval_batch_size;
      const std::int64_t begin = batch * eval_batch_size;
      const std::int64_t end = std::min(split.size(), begin + eval_batch_size);
      throw DataError("non-finite logits (NaN or inf) in " +
                      std::string(split_name) + " batch " +
                      std::to_string(batch) + " (examples " +
                      std::to_string(begin) + ".." + std::to_string(end - 1) +
                      "); training has diverged");
    }
    return logits;
  }

  /// Streams log_softmax(logits / temperature) through every metric in
  /// batches; each metric sees the same tensors, once.
  MetricValues score(const torch::Tensor& logits, const torch::Tensor& labels,
                     double temperature, TestReport* report) {
    for (auto& m : metrics) m.second->reset();
    for (std::int64_t begin = 0; begin < logits.size(0);
         begin += eval_batch_size) {
      auto len = std::min(eval_batch_size, logits.size(0) - begin);
      auto log_probs =
          F::log_softmax(logits.narrow(0, begin, len) / temperature, 1);
      auto y = labels.narrow(0, begin, len);
      for (auto& m : metrics) m.second->update(log_probs, y);
    }
    MetricValues out;
    for (auto& m : metrics) {
      if (m.second->scalar()) out.emplace_back(m.first, m.second->value());
      if (report) {
        auto series = m.second->series();
        if (!series.empty()) report->series[m.first] = std::move(series);
      }
    }
    return out;
  }

  MetricValues evaluate(const DataSplit& split, const char* split_name) {
    return score(logits_of(split, split_name), split.labels.cpu(), 1.0,
                 nullptr);
  }

  double seconds() const {
    double s = seconds_before;
    if (call_started) {
      s += std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                         *call_started)
               .count();
    }
    return s;
  }

  /// Copies the losses of the steps since the last check to the host at
  /// once: a non-finite one stops the run naming its step; a window mean
  /// orders of magnitude above the first step's loss is reported once.
  void check_losses(double lr) {
    if (pending_losses.empty()) return;
    auto losses = torch::stack(pending_losses)
                      .to(torch::kCPU, torch::kDouble)
                      .contiguous();
    const auto steps = std::move(pending_steps);
    pending_losses.clear();
    pending_steps.clear();
    const auto* values = losses.data_ptr<double>();
    double sum = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      if (!std::isfinite(values[i])) {
        char text[64];
        std::snprintf(text, sizeof text, "%g", lr);
        throw Error("training diverged in epoch " +
                    std::to_string(context.epoch + 1) + " at step " +
                    std::to_string(steps[i].first) + " (batch " +
                    std::to_string(steps[i].second) + " of " +
                    std::to_string(steps_per_epoch) + "): the loss is " +
                    (std::isnan(values[i]) ? "NaN" : "infinite") +
                    "; lower optimizer.lr (now " + text + ")");
      }
      sum += values[i];
    }
    if (!first_loss) first_loss = values[0];
    // Against the first step's loss, or chance level if that is higher (a
    // run resumed near zero loss may well double it).
    const double chance = std::log(std::max<double>(2, info.num_classes));
    const double reference = std::max(*first_loss, chance);
    const double mean = sum / static_cast<double>(steps.size());
    if (!divergence_reported && mean > kDivergenceFactor * reference) {
      divergence_reported = true;
      char text[256];
      std::snprintf(text, sizeof text,
                    "mean training loss %.3g over steps %lld-%lld is %.3g "
                    "times the first step's (%.3g): training is diverging; "
                    "lower optimizer.lr (now %g) or optimizer.momentum",
                    mean, static_cast<long long>(steps.front().first),
                    static_cast<long long>(steps.back().first),
                    mean / *first_loss, *first_loss, lr);
      warnings.emplace_back(text);
    }
  }

  /// Runs the rest of the current epoch. Returns nullopt when `stop` asked
  /// to stop at a step boundary; the cursor then says where to go on.
  std::optional<EpochRecord> run_epoch(
      const std::function<void(std::int64_t, std::int64_t)>& on_step,
      const std::function<bool()>& stop) {
    model->train();
    if (cursor.batch == 0) {
      cursor.order =
          torch::randperm(train.size(), shuffle_generator,
                          torch::TensorOptions(torch::kLong).device(device));
      cursor.loss_sum = torch::zeros({}, torch::TensorOptions(device));
      cursor.lr = base_lr;
    }
    // The same order on every rank; step b's global batch is the same
    // slice of it as in one process, and each rank trains on its share.
    const auto order = padded_order(cursor.order, world);
    for (std::int64_t b = cursor.batch; b < steps_per_epoch; ++b) {
      auto len = std::min(batch_size, order.size(0) - b * batch_size);
      auto index =
          rank_share(order.narrow(0, b * batch_size, len), rank, world);
      auto inputs = dataset->augment(train.inputs.index_select(0, index),
                                     augment_generator);
      if (channels_last && inputs.dim() == 4) {
        inputs = inputs.contiguous(at::MemoryFormat::ChannelsLast);
      }
      auto labels = train.labels.index_select(0, index);

      const double lr = schedule->value(context.step);
      optimizer->set_lr(lr);
      try {
        method->before_step(context);
        kernels.begin_step(method->needs_dense_gradient(context));
        optimizer->zero_grad();
        if (gradient_sync) gradient_sync->begin();
        torch::Tensor loss;
        {
          AutocastScope autocast(device, precision);
          loss = F::cross_entropy(
              model->forward(inputs), labels,
              F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
        }
        loss.backward();
        // Every hook below sees the gradient averaged over the ranks.
        if (gradient_sync) gradient_sync->finish();
        bool apply_step = true;
        if (method->topology_update_due(context)) {
          apply_step = method->update_topology(context);
          check_masks("after the topology update at step " +
                      std::to_string(context.step));
        }
        method->after_backward(context);
        if (apply_step) kernels.optimizer_step(*optimizer);
        method->after_step(context);
        cursor.loss_sum += loss.detach();
        pending_losses.push_back(loss.detach());
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        throw Error("training step " + std::to_string(context.step + 1) +
                    " (epoch " + std::to_string(context.epoch + 1) +
                    ", batch " + std::to_string(b + 1) + "): " + one_line(e));
      }
      cursor.lr = lr;
      cursor.batch = b + 1;
      ++context.step;
      pending_steps.emplace_back(context.step, b + 1);
      if (static_cast<std::int64_t>(pending_losses.size()) >= kLossCheckEvery) {
        check_losses(lr);
      }
      if (on_step) on_step(b + 1, steps_per_epoch);
      if (stop && stop()) {
        check_losses(lr);
        return std::nullopt;
      }
    }
    check_losses(cursor.lr);
    method->on_epoch_end(context);
    averaging->on_epoch_end(context.epoch + 1, context, *method);
    EpochRecord record;
    record.epoch = context.epoch + 1;
    record.step = context.step;
    record.lr = cursor.lr;
    record.train_loss =
        mean_over_ranks(cursor.loss_sum) / static_cast<double>(steps_per_epoch);
    if (!std::isfinite(record.train_loss)) {
      throw Error("training diverged in epoch " + std::to_string(record.epoch) +
                  " (mean loss is not finite); lower optimizer.lr");
    }
    cursor = EpochCursor{};
    ++context.epoch;
    const bool last = context.epoch == epochs;
    if (validation.size() > 0 &&
        (last || (eval_every > 0 && context.epoch % eval_every == 0))) {
      kill_point("validation", context.epoch);
      record.validation = evaluate(validation, "validation");
    }
    record.density = density();
    return record;
  }

  /// The mean of a scalar over the ranks (each rank's training loss is
  /// over its own share of the batches).
  double mean_over_ranks(const torch::Tensor& value) const {
    if (!ranks) return value.item<double>();
    std::vector<torch::Tensor> t{
        value.detach().to(torch::kDouble).reshape({1})};
    ranks->all_reduce(t, ReduceOp::sum);
    return t[0].item<double>() / world;
  }

  /// train_epoch's body: the epoch's record, or nullopt when stopped.
  std::optional<EpochRecord> timed_epoch(
      const std::function<void(std::int64_t, std::int64_t)>& on_step,
      const std::function<bool()>& stop) {
    if (context.epoch >= epochs) {
      throw Error("all " + std::to_string(epochs) + " epochs are done");
    }
    call_started = std::chrono::steady_clock::now();
    std::optional<EpochRecord> record;
    try {
      record = run_epoch(on_step, stop);
    } catch (...) {
      seconds_before = seconds();
      call_started.reset();
      throw;
    }
    seconds_before = seconds();
    call_started.reset();
    if (record) record->seconds = seconds_before;
    return record;
  }
};

void check_world_size(const ExperimentConfig& config, int world_size) {
  const auto batch = config.training.integer("batch_size");
  if (batch % world_size != 0) {
    throw ConfigError("training.batch_size = " + std::to_string(batch) +
                      " (the global batch) does not split evenly over " +
                      std::to_string(world_size) +
                      " ranks; choose a multiple of " +
                      std::to_string(world_size));
  }
}

Trainer::Trainer(const ExperimentConfig& config, const Registry& registry,
                 Mode mode, std::shared_ptr<Communicator> ranks)
    : impl_(std::make_unique<Impl>(config, registry, std::move(ranks))) {
  impl_->build_reporting(mode);
}

const std::vector<std::string>& Trainer::warnings() const {
  return impl_->warnings;
}

Trainer::~Trainer() = default;

EpochRecord Trainer::train_epoch(
    const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  return *impl_->timed_epoch(on_step, {});
}

void Trainer::fit(
    const std::function<void(const EpochRecord&)>& on_epoch,
    const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  fit(FitHooks{on_epoch, on_step, {}});
}

bool Trainer::fit(const FitHooks& hooks) {
  while (impl_->context.epoch < impl_->epochs) {
    auto record = impl_->timed_epoch(hooks.on_step, hooks.stop);
    if (!record) return false;
    if (hooks.on_epoch) hooks.on_epoch(*record);
    if (hooks.stop && impl_->context.epoch < impl_->epochs && hooks.stop()) {
      return false;
    }
  }
  return true;
}

void Trainer::use_final_model(
    const std::map<std::string, torch::Tensor>& state) {
  load_model_state(*impl_->model, state, "the final model");
  impl_->finalized = true;
}

MetricValues Trainer::test(torch::Tensor* probabilities) {
  TestReport report = test_report();
  if (probabilities) *probabilities = report.probabilities;
  return report.metrics;
}

TestReport Trainer::test_report() {
  auto& m = *impl_;
  if (!m.finalized) {
    // The final weights may differ from the masks (CigL's average): from
    // here on every layer computes densely.
    m.kernels.detach();
    if (auto replacement = m.method->finalize(m.context)) {
      replacement->to(m.device);
      // The replacement may come from the method's plugin: holding the
      // method keeps that library loaded as long as the model is used.
      struct Holder {
        std::shared_ptr<Method> method;
        std::shared_ptr<Model> model;
      };
      auto holder = std::make_shared<Holder>(Holder{m.method, replacement});
      m.model = std::shared_ptr<Model>(holder, replacement.get());
      m.context.model = m.model;
    }
    m.averaging->apply(m.context, [&m](const auto& fn) {
      m.for_each_augmented_train_batch(fn);
    });
    m.finalized = true;
  }
  TestReport report;
  auto logits = m.logits_of(m.test, "test");
  report.labels = m.test.labels.cpu();
  report.metrics = m.score(logits, report.labels, 1.0, &report);
  report.probabilities = torch::softmax(logits, 1);
  if (m.config.experiment.boolean("temperature_scaling")) {
    if (m.validation.size() == 0) {
      throw ConfigError(
          "experiment.temperature_scaling fits on the validation split, but "
          "training.validation_fraction is 0");
    }
    report.temperature = fit_temperature(
        m.logits_of(m.validation, "validation"), m.validation.labels.cpu());
    report.scaled =
        m.score(logits, report.labels, *report.temperature, nullptr);
  }
  return report;
}

std::vector<std::string> Trainer::metric_labels() const {
  std::vector<std::string> out;
  for (const auto& m : impl_->metrics) {
    if (m.second->scalar()) out.push_back(m.first);
  }
  return out;
}

std::shared_ptr<Model> Trainer::model() const { return impl_->model; }
const Method& Trainer::method() const { return *impl_->method; }
const KernelRouting& Trainer::kernels() const { return impl_->kernels; }
CostReport Trainer::costs(FlopsConvention convention) const {
  auto report =
      measure_costs(*impl_->model, impl_->info.input_shape, convention);
  TrainContext context = impl_->context;
  if (!impl_->timetable_known) context.total_steps = 0;  // not counted
  add_training_costs(report, *impl_->method, context, impl_->batch_size);
  return report;
}
double Trainer::density() const { return impl_->density(); }
std::int64_t Trainer::step() const { return impl_->context.step; }
std::int64_t Trainer::epoch() const { return impl_->context.epoch; }
std::int64_t Trainer::epochs() const { return impl_->epochs; }
double Trainer::train_seconds() const { return impl_->seconds(); }
std::int64_t Trainer::total_steps() const { return impl_->context.total_steps; }
std::string Trainer::device_name() const { return impl_->device.str(); }
Collectives& Trainer::ranks() const { return impl_->collectives(); }
const DataSplit& Trainer::train_split() const { return impl_->train; }
const DataSplit& Trainer::validation_split() const { return impl_->validation; }
const DataSplit& Trainer::test_split() const { return impl_->test; }

void Trainer::save_state(const std::string& file) const {
  torch::serialize::OutputArchive archive;
  save_state(archive);
  archive.save_to(file);
}

void Trainer::save_state(torch::serialize::OutputArchive& archive) const {
  auto& m = *impl_;
  // The same model on every rank: BatchNorm statistics averaged (which
  // changes nothing the run computes later; see average_running_stats).
  if (m.ranks) average_running_stats(*m.model, *m.ranks);
  torch::serialize::OutputArchive model_archive, optimizer_archive,
      method_archive, averaging_archive;
  m.model->save(model_archive);
  m.synced_optimizer->save(optimizer_archive);
  m.method->save(method_archive);
  m.averaging->save(averaging_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("method", method_archive);
  archive.write("averaging", averaging_archive);
  m.kernels.save(archive);
  archive.write("step", torch::tensor(m.context.step));
  archive.write("epoch", torch::tensor(m.context.epoch));
  archive.write("seconds", torch::tensor(m.seconds(), torch::kDouble));
  archive.write("rng/shuffle", m.shuffle_generator.get_state());
  // Each rank's own streams (augmentation, the global generators): rank
  // 0's under the plain names, the others' under ranks/<r>/.
  std::vector<std::pair<std::string, torch::Tensor>> own = {
      {"rng/augment", m.augment_generator.get_state()},
      {"rng/torch",
       torch::globalContext().defaultGenerator(torch::kCPU).get_state()}};
  if (m.device.is_cuda()) {  // dropout and other ops' draws on the GPU
    own.emplace_back(
        "rng/torch_cuda",
        torch::globalContext().defaultGenerator(m.device).get_state());
  }
  if (m.cursor.batch > 0) {  // each rank's loss over its own shares so far
    own.emplace_back("cursor/loss_sum", m.cursor.loss_sum.cpu());
  }
  if (m.ranks) {
    archive.write("ranks/world_size", torch::tensor(std::int64_t{m.world}));
  }
  for (auto& [name, state] : own) {
    if (m.ranks) {
      auto all = m.ranks->all_gather(state);
      state = all[0];
      for (int r = 1; r < m.world; ++r) {
        archive.write("ranks/" + std::to_string(r) + "/" + name, all[r]);
      }
    }
    archive.write(name, state);
  }
  if (m.cursor.batch > 0) {  // inside an epoch
    archive.write("cursor/batch", torch::tensor(m.cursor.batch));
    archive.write("cursor/order", m.cursor.order.cpu());
    archive.write("cursor/lr", torch::tensor(m.cursor.lr, torch::kDouble));
  }
}

void Trainer::load_state(const std::string& file) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file, impl_->device);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw Error("cannot restore training state from " + file + ": " +
                what.substr(0, what.find('\n')));
  }
  load_state(archive, file);
}

void Trainer::load_state(torch::serialize::InputArchive& archive,
                         const std::string& source) {
  // LibTorch reports a mismatched archive with a multi-line c10::Error;
  // one line naming the file is what a user needs.
  try {
    load_state_unchecked(archive);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw Error("cannot restore training state from " + source + ": " +
                what.substr(0, what.find('\n')));
  }
}

void Trainer::load_state_unchecked(torch::serialize::InputArchive& archive) {
  auto& m = *impl_;
  torch::serialize::InputArchive model_archive, optimizer_archive,
      method_archive, averaging_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  archive.read("method", method_archive);
  m.model->load(model_archive);
  m.synced_optimizer->load(optimizer_archive);
  m.method->load(method_archive);
  // States saved before averaging was a component have none to restore.
  if (archive.try_read("averaging", averaging_archive)) {
    m.averaging->load(averaging_archive);
  }
  m.kernels.load(archive);
  torch::Tensor step, epoch, shuffle, augment, global, seconds;
  archive.read("step", step);
  archive.read("epoch", epoch);
  archive.read("rng/shuffle", shuffle);
  // A rank's own streams: rank 0's under the plain names. A rank the
  // saved run did not have (resumed with --force at another world size)
  // keeps its freshly seeded ones.
  const std::string prefix =
      m.rank == 0 ? "" : "ranks/" + std::to_string(m.rank) + "/";
  // States saved before datasets could augment lack it; their runs drew
  // nothing from it, so the freshly seeded state is the right one.
  if (archive.try_read(prefix + "rng/augment", augment)) {
    m.augment_generator.set_state(augment.cpu());
  }
  bool has_global = true;
  if (m.rank == 0) {
    archive.read("rng/torch", global);
  } else {
    has_global = archive.try_read(prefix + "rng/torch", global);
  }
  m.context.step = step.item<std::int64_t>();
  m.context.epoch = epoch.item<std::int64_t>();
  m.seconds_before =
      archive.try_read("seconds", seconds) ? seconds.item<double>() : 0.0;
  m.shuffle_generator.set_state(shuffle.cpu());
  if (has_global) {
    at::Generator global_generator =  // a handle: shares the default's state
        torch::globalContext().defaultGenerator(torch::kCPU);
    global_generator.set_state(global.cpu());
  }
  torch::Tensor global_cuda;
  if (m.device.is_cuda() &&
      archive.try_read(prefix + "rng/torch_cuda", global_cuda)) {
    at::Generator cuda_generator =
        torch::globalContext().defaultGenerator(m.device);
    cuda_generator.set_state(global_cuda.cpu());
  }
  m.cursor = Impl::EpochCursor{};
  torch::Tensor batch;
  if (archive.try_read("cursor/batch", batch)) {
    torch::Tensor order, loss_sum, lr;
    archive.read("cursor/order", order);
    archive.read("cursor/lr", lr);
    if (!archive.try_read(prefix + "cursor/loss_sum", loss_sum)) {
      loss_sum = torch::zeros({});  // a rank the saved run did not have
    }
    m.cursor.batch = batch.item<std::int64_t>();
    m.cursor.order = order.to(m.device);
    m.cursor.loss_sum = loss_sum.to(m.device);
    m.cursor.lr = lr.item<double>();
    if (m.cursor.batch > m.steps_per_epoch ||
        m.cursor.order.numel() != m.train.size()) {
      throw Error(
          "the saved position inside the epoch does not fit this "
          "run's data");
    }
  }
  m.check_masks("after resuming");
}

}  // namespace cigl
