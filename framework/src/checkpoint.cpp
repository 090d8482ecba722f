#include "cigl/core/checkpoint.hpp"

#include <torch/serialize.h>

#include <torch/version.h>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "cigl/core/files.hpp"
#include "cigl/core/provenance.hpp"
#include "cigl/error.hpp"
#include "cigl/plugin.hpp"

namespace cigl {

namespace {

constexpr int kFormat = 1;

torch::Tensor text_tensor(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()),
                          {static_cast<std::int64_t>(text.size())},
                          torch::kUInt8)
      .clone();
}

std::string tensor_text(const torch::Tensor& t) {
  auto bytes = t.to(torch::kCPU).contiguous();
  return std::string(static_cast<const char*>(bytes.data_ptr()),
                     static_cast<std::size_t>(bytes.numel()));
}

nlohmann::json build_json(const BuildInfo& b) {
  return {{"cigl_version", b.cigl_version},
          {"libtorch_version", b.libtorch_version},
          {"fingerprint", b.fingerprint},
          {"plugins", b.plugins}};
}

BuildInfo build_from(const nlohmann::json& j) {
  BuildInfo b;
  b.cigl_version = j.value("cigl_version", "");
  b.libtorch_version = j.value("libtorch_version", "");
  b.fingerprint = j.value("fingerprint", "");
  if (j.contains("plugins")) {
    b.plugins = j["plugins"].get<std::map<std::string, std::string>>();
  }
  return b;
}

nlohmann::json records_json(const std::vector<EpochRecord>& records) {
  auto out = nlohmann::json::array();
  for (const auto& r : records) {
    auto validation = nlohmann::json::array();
    for (const auto& [name, value] : r.validation) {
      // JSON has no NaN: a metric without a value (top5 with few classes)
      // is null, read back as NaN.
      validation.push_back(
          {name, std::isfinite(value) ? nlohmann::json(value) : nullptr});
    }
    out.push_back({{"epoch", r.epoch},
                   {"step", r.step},
                   {"lr", r.lr},
                   {"train_loss", r.train_loss},
                   {"validation", validation},
                   {"density", r.density},
                   {"seconds", r.seconds}});
  }
  return out;
}

std::vector<EpochRecord> records_from(const nlohmann::json& j) {
  std::vector<EpochRecord> out;
  for (const auto& item : j) {
    EpochRecord r;
    r.epoch = item.at("epoch").get<std::int64_t>();
    r.step = item.at("step").get<std::int64_t>();
    r.lr = item.at("lr").get<double>();
    r.train_loss = item.at("train_loss").get<double>();
    for (const auto& pair : item.at("validation")) {
      const auto& value = pair.at(1);
      r.validation.emplace_back(pair.at(0).get<std::string>(),
                                value.is_null()
                                    ? std::numeric_limits<double>::quiet_NaN()
                                    : value.get<double>());
    }
    r.density = item.at("density").get<double>();
    r.seconds = item.at("seconds").get<double>();
    out.push_back(std::move(r));
  }
  return out;
}

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

// Reads `bytes` (of the file `path`) into an archive; Error names the
// file on any failure.
void open_archive(const std::string& bytes, const std::string& path,
                  torch::serialize::InputArchive& archive,
                  const torch::Device& device) {
  try {
    archive.load_from(bytes.data(), bytes.size(), device);
  } catch (const std::exception& e) {
    throw Error("cannot read checkpoint " + path + ": " + first_line(e.what()));
  }
}

Checkpoint read_meta(torch::serialize::InputArchive& archive,
                     const std::string& path) {
  try {
    torch::Tensor meta, records;
    archive.read("cigl/meta", meta);
    archive.read("cigl/records", records);
    const auto m = nlohmann::json::parse(tensor_text(meta));
    if (m.value("format", 0) != kFormat) {
      throw Error("format " + std::to_string(m.value("format", 0)) +
                  ", this cigl reads format " + std::to_string(kFormat));
    }
    Checkpoint c;
    c.build = build_from(m.at("build"));
    c.epoch = m.at("epoch").get<std::int64_t>();
    c.step = m.at("step").get<std::int64_t>();
    c.world_size = m.value("world_size", 1);
    c.records = records_from(nlohmann::json::parse(tensor_text(records)));
    return c;
  } catch (const std::exception& e) {
    throw Error("cannot read checkpoint " + path + ": " + first_line(e.what()));
  }
}

}  // namespace

BuildInfo current_build(const ExperimentConfig& config,
                        const Registry& registry) {
  BuildInfo b;
  b.cigl_version = cigl_version();
  b.libtorch_version = TORCH_VERSION;
  b.fingerprint = CIGL_BUILD_FINGERPRINT;
  for (const auto& used : used_components(config, registry)) {
    if (!used.plugin.empty()) b.plugins[used.plugin] = used.plugin_version;
  }
  return b;
}

std::string build_differences(const BuildInfo& saved, const BuildInfo& now) {
  std::string out;
  auto differ = [&](const std::string& what, const std::string& a,
                    const std::string& b) {
    if (a == b) return;
    out += (out.empty() ? "" : ", ") + what + " " + (a.empty() ? "?" : a) +
           " -> " + (b.empty() ? "?" : b);
  };
  differ("cigl", saved.cigl_version, now.cigl_version);
  differ("LibTorch", saved.libtorch_version, now.libtorch_version);
  differ("build", saved.fingerprint, now.fingerprint);
  for (const auto& [name, version] : now.plugins) {
    auto it = saved.plugins.find(name);
    differ("plugin " + name, it == saved.plugins.end() ? "" : it->second,
           version);
  }
  for (const auto& [name, version] : saved.plugins) {
    if (!now.plugins.count(name)) differ("plugin " + name, version, "");
  }
  return out;
}

std::string checkpoint_bytes(const Trainer& trainer,
                             const std::vector<EpochRecord>& records,
                             const BuildInfo& build) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive state;
  trainer.save_state(state);
  archive.write("trainer", state);
  const nlohmann::json meta = {{"format", kFormat},
                               {"build", build_json(build)},
                               {"epoch", trainer.epoch()},
                               {"step", trainer.step()},
                               {"world_size", trainer.ranks().world_size()}};
  archive.write("cigl/meta", text_tensor(meta.dump()));
  archive.write("cigl/records", text_tensor(records_json(records).dump()));
  std::string bytes;
  archive.save_to([&bytes](const void* data, std::size_t size) {
    bytes.append(static_cast<const char*>(data), size);
    return size;
  });
  return bytes;
}

void save_checkpoint(const std::string& path, const Trainer& trainer,
                     const std::vector<EpochRecord>& records,
                     const BuildInfo& build) {
  write_file_atomic(path, checkpoint_bytes(trainer, records, build));
}

Checkpoint read_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive;
  open_archive(read_file(path), path, archive, torch::kCPU);
  return read_meta(archive, path);
}

Checkpoint load_checkpoint(const std::string& path, Trainer& trainer) {
  return load_checkpoint_bytes(read_file(path), path, trainer);
}

Checkpoint load_checkpoint_bytes(const std::string& bytes,
                                 const std::string& path, Trainer& trainer) {
  torch::serialize::InputArchive archive;
  open_archive(bytes, path, archive, torch::Device(trainer.device_name()));
  Checkpoint c = read_meta(archive, path);
  torch::serialize::InputArchive state;
  try {
    archive.read("trainer", state);
  } catch (const std::exception& e) {
    throw Error("cannot read checkpoint " + path + ": " + first_line(e.what()));
  }
  trainer.load_state(state, path);
  return c;
}

}  // namespace cigl
