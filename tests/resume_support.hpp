#pragma once
// Resumes a run in memory, as cigl-run resumes from checkpoint.pt.
#include <memory>
#include <sstream>

#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "cigl/core/trainer.hpp"
#include "test_support.hpp"

namespace cigl::test {

/// A new trainer of `config` that goes on from where `trained` stands: its
/// state saved to bytes and loaded back on the new trainer's device.
inline std::unique_ptr<Trainer> resumed_from(const Trainer& trained,
                                             const ExperimentConfig& config) {
  torch::serialize::OutputArchive out;
  trained.save_state(out);
  std::stringstream bytes;
  out.save_to(bytes);
  auto resumed = std::make_unique<Trainer>(config, bundled_registry());
  torch::serialize::InputArchive in;
  in.load_from(bytes, torch::Device(resumed->device_name()));
  resumed->load_state(in, "memory");
  return resumed;
}

}  // namespace cigl::test
