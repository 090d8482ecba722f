#include "cigl/core/trainer.hpp"

#include <chrono>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/loss.h>
#include <torch/serialize.h>
#include <torch/utils.h>

#include "cigl/core/averaging.hpp"
#include "cigl/core/calibration.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"
#include "cigl/method.hpp"
#include "cigl/metric.hpp"
#include "cigl/optimizer.hpp"
#include "cigl/schedule.hpp"

namespace F = torch::nn::functional;

namespace cigl {

namespace {

torch::Device pick_device(const std::string& wanted) {
  if (wanted == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (wanted == "cuda" && !cuda) {
    throw ConfigError(
        "experiment.device = \"cuda\", but no CUDA device is usable (this "
        "LibTorch build has no CUDA support or no GPU is visible); use "
        "\"auto\" or \"cpu\"");
  }
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

DataSplit take(const DataSplit& split, const torch::Tensor& index) {
  return {split.inputs.index_select(0, index),
          split.labels.index_select(0, index)};
}

DataSplit to_device(const DataSplit& split, torch::Device device) {
  return {split.inputs.to(device), split.labels.to(device)};
}

}  // namespace

struct Trainer::Impl {
  ExperimentConfig config;
  const Registry& registry;
  torch::Device device = torch::kCPU;
  std::uint64_t seed = 0;
  DataSplit train, validation, test;
  std::shared_ptr<Dataset> dataset;
  DatasetInfo info;
  bool timetable_known = true;  // false: --inspect of an unsized dataset
  std::shared_ptr<Model> model;
  std::shared_ptr<Optimizer> optimizer;
  std::unique_ptr<WeightAveraging> averaging;
  std::shared_ptr<Schedule> schedule;
  std::shared_ptr<Method> method;
  std::vector<std::pair<std::string, std::shared_ptr<Metric>>> metrics;
  torch::Generator shuffle_generator;
  torch::Generator augment_generator;  // the dataset's training augmentation
  TrainContext context;
  std::int64_t batch_size = 0, eval_batch_size = 0, epochs = 0;
  std::int64_t steps_per_epoch = 0, eval_every = 1;
  double base_lr = 0, label_smoothing = 0;
  bool finalized = false;
  double seconds_before = 0;  // training time so far

  using Mode = Trainer::Mode;
  Impl(const ExperimentConfig& c, const Registry& r) : config(c), registry(r) {}

  void build(Mode mode) {
    const Params& e = config.experiment;
    const Params& t = config.training;
    seed = static_cast<std::uint64_t>(e.integer("seed"));
    device = pick_device(e.string("device"));
    if (e.integer("threads") > 0) {
      torch::set_num_threads(static_cast<int>(e.integer("threads")));
    }
    batch_size = t.integer("batch_size");
    eval_batch_size = t.integer("eval_batch_size");
    epochs = t.integer("epochs");
    eval_every = t.integer("eval_every");
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
      build_model_and_method(info);
      return;
    }
    DataBundle bundle = dataset->load();
    check_split(bundle.train, "train", info);
    check_split(bundle.test, "test", info);

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
    steps_per_epoch = (train.size() + batch_size - 1) / batch_size;
    shuffle_generator = at::make_generator<at::CPUGeneratorImpl>(seed + 2);
    augment_generator = at::make_generator<at::CPUGeneratorImpl>(seed + 3);
    build_model_and_method(info);
  }

  void build_model_and_method(const DatasetInfo& info) {
    torch::manual_seed(seed);  // model initialisation
    model =
        registry.make<Model>(config.model.plugin, config.model.params,
                             ModelContext{info.input_shape, info.num_classes});
    model->to(device);

    OptimizerContext optimizer_context;
    for (const auto& p : model->named_parameters()) {
      optimizer_context.parameters.push_back({p.key(), p.value()});
    }
    optimizer = registry.make<Optimizer>(
        config.optimizer.plugin, config.optimizer.params, optimizer_context);
    base_lr = optimizer->base_lr();

    schedule = registry.make<Schedule>(
        config.schedule.plugin, config.schedule.params,
        ScheduleContext{base_lr, steps_per_epoch * epochs, steps_per_epoch});
    for (const auto& m : config.metrics) {
      metrics.emplace_back(m.label, registry.make<Metric>(m.plugin, m.params));
    }
    method = registry.make<Method>(config.method.plugin, config.method.params);

    context.model = model;
    context.optimizer = optimizer.get();
    context.device = device;
    context.seed = seed;
    context.total_steps = steps_per_epoch * epochs;
    context.steps_per_epoch = steps_per_epoch;
    context.epochs = epochs;
    context.components = &registry;
    context.for_each_train_batch = [this](const auto& fn) {
      for (std::int64_t begin = 0; begin < train.size();
           begin += eval_batch_size) {
        auto len = std::min(eval_batch_size, train.size() - begin);
        fn(train.inputs.narrow(0, begin, len),
           train.labels.narrow(0, begin, len));
      }
    };
    method->setup(context);
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
    auto draw_generator = at::make_generator<at::CPUGeneratorImpl>(seed + 6);
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
    EvalMode eval_mode(*model);
    std::vector<torch::Tensor> all;
    std::int64_t batch = 0;
    for (std::int64_t begin = 0; begin < split.size();
         begin += eval_batch_size, ++batch) {
      auto len = std::min(eval_batch_size, split.size() - begin);
      auto logits = model->forward(split.inputs.narrow(0, begin, len));
      if (!torch::isfinite(logits).all().item<bool>()) {
        throw DataError(
            "non-finite logits (NaN or inf) in " + std::string(split_name) +
            " batch " + std::to_string(batch) + " (examples " +
            std::to_string(begin) + ".." + std::to_string(begin + len - 1) +
            "); training has diverged");
      }
      all.push_back(logits.to(torch::kCPU, torch::kDouble));
    }
    return all.empty() ? torch::empty({0, 0}, torch::kDouble) : torch::cat(all);
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
      out.emplace_back(m.first, m.second->value());
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

  EpochRecord run_epoch(
      const std::function<void(std::int64_t, std::int64_t)>& on_step) {
    model->train();
    auto order = torch::randperm(train.size(), shuffle_generator, torch::kLong)
                     .to(device);
    auto loss_sum = torch::zeros({}, torch::TensorOptions(device));
    double lr = base_lr;
    for (std::int64_t b = 0; b < steps_per_epoch; ++b) {
      auto len = std::min(batch_size, train.size() - b * batch_size);
      auto index = order.narrow(0, b * batch_size, len);
      auto inputs = dataset->augment(train.inputs.index_select(0, index),
                                     augment_generator);
      auto labels = train.labels.index_select(0, index);

      lr = schedule->value(context.step);
      optimizer->set_lr(lr);
      method->before_step(context);
      optimizer->zero_grad();
      auto loss = F::cross_entropy(
          model->forward(inputs), labels,
          F::CrossEntropyFuncOptions().label_smoothing(label_smoothing));
      loss.backward();
      bool apply_step = true;
      if (method->topology_update_due(context)) {
        apply_step = method->update_topology(context);
      }
      method->after_backward(context);
      if (apply_step) optimizer->step();
      method->after_step(context);
      loss_sum += loss.detach();
      ++context.step;
      if (on_step) on_step(b + 1, steps_per_epoch);
    }
    method->on_epoch_end(context);
    averaging->on_epoch_end(context.epoch + 1, context, *method);
    EpochRecord record;
    record.epoch = context.epoch + 1;
    record.step = context.step;
    record.lr = lr;
    record.train_loss =
        loss_sum.item<double>() / static_cast<double>(steps_per_epoch);
    if (!std::isfinite(record.train_loss)) {
      throw Error("training diverged in epoch " + std::to_string(record.epoch) +
                  " (mean loss is not finite); lower optimizer.lr");
    }
    ++context.epoch;
    const bool last = context.epoch == epochs;
    if (validation.size() > 0 &&
        (last || (eval_every > 0 && context.epoch % eval_every == 0))) {
      record.validation = evaluate(validation, "validation");
    }
    record.density = density();
    return record;
  }
};

Trainer::Trainer(const ExperimentConfig& config, const Registry& registry,
                 Mode mode)
    : impl_(std::make_unique<Impl>(config, registry)) {
  impl_->build(mode);
}

Trainer::~Trainer() = default;

EpochRecord Trainer::train_epoch(
    const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  auto& m = *impl_;
  if (m.context.epoch >= m.epochs) {
    throw Error("all " + std::to_string(m.epochs) + " epochs are done");
  }
  const auto start = std::chrono::steady_clock::now();
  EpochRecord record = m.run_epoch(on_step);
  m.seconds_before +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  record.seconds = m.seconds_before;
  return record;
}

void Trainer::fit(
    const std::function<void(const EpochRecord&)>& on_epoch,
    const std::function<void(std::int64_t, std::int64_t)>& on_step) {
  while (impl_->context.epoch < impl_->epochs) {
    EpochRecord record = train_epoch(on_step);
    if (on_epoch) on_epoch(record);
  }
}

MetricValues Trainer::test(torch::Tensor* probabilities) {
  TestReport report = test_report();
  if (probabilities) *probabilities = report.probabilities;
  return report.metrics;
}

TestReport Trainer::test_report() {
  auto& m = *impl_;
  if (!m.finalized) {
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

std::shared_ptr<Model> Trainer::model() const { return impl_->model; }
const Method& Trainer::method() const { return *impl_->method; }
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
std::int64_t Trainer::total_steps() const { return impl_->context.total_steps; }
std::string Trainer::device_name() const { return impl_->device.str(); }
const DataSplit& Trainer::train_split() const { return impl_->train; }
const DataSplit& Trainer::validation_split() const { return impl_->validation; }
const DataSplit& Trainer::test_split() const { return impl_->test; }

void Trainer::save_state(const std::string& file) const {
  const auto& m = *impl_;
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive, optimizer_archive,
      method_archive, averaging_archive;
  m.model->save(model_archive);
  m.optimizer->save(optimizer_archive);
  m.method->save(method_archive);
  m.averaging->save(averaging_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("method", method_archive);
  archive.write("averaging", averaging_archive);
  archive.write("step", torch::tensor(m.context.step));
  archive.write("epoch", torch::tensor(m.context.epoch));
  archive.write("rng/shuffle", m.shuffle_generator.get_state());
  archive.write("rng/augment", m.augment_generator.get_state());
  archive.write(
      "rng/torch",
      torch::globalContext().defaultGenerator(torch::kCPU).get_state());
  archive.save_to(file);
}

void Trainer::load_state(const std::string& file) {
  // LibTorch reports a mismatched archive with a multi-line c10::Error;
  // one line naming the file is what a user needs.
  try {
    load_state_unchecked(file);
  } catch (const std::exception& e) {
    std::string what = e.what();
    throw Error("cannot restore training state from " + file + ": " +
                what.substr(0, what.find('\n')));
  }
}

void Trainer::load_state_unchecked(const std::string& file) {
  auto& m = *impl_;
  torch::serialize::InputArchive archive;
  archive.load_from(file, m.device);
  torch::serialize::InputArchive model_archive, optimizer_archive,
      method_archive, averaging_archive;
  archive.read("model", model_archive);
  archive.read("optimizer", optimizer_archive);
  archive.read("method", method_archive);
  m.model->load(model_archive);
  m.optimizer->load(optimizer_archive);
  m.method->load(method_archive);
  // States saved before averaging was a component have none to restore.
  if (archive.try_read("averaging", averaging_archive)) {
    m.averaging->load(averaging_archive);
  }
  torch::Tensor step, epoch, shuffle, augment, global;
  archive.read("step", step);
  archive.read("epoch", epoch);
  archive.read("rng/shuffle", shuffle);
  // States saved before datasets could augment lack it; their runs drew
  // nothing from it, so the freshly seeded state is the right one.
  if (archive.try_read("rng/augment", augment)) {
    m.augment_generator.set_state(augment.cpu());
  }
  archive.read("rng/torch", global);
  m.context.step = step.item<std::int64_t>();
  m.context.epoch = epoch.item<std::int64_t>();
  m.shuffle_generator.set_state(shuffle.cpu());
  at::Generator global_generator =  // a handle: shares the default's state
      torch::globalContext().defaultGenerator(torch::kCPU);
  global_generator.set_state(global.cpu());
}

}  // namespace cigl
