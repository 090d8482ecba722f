#include "cigl/core/model_file.hpp"

#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/export.h>
#include <torch/csrc/jit/serialization/pickler.h>
#include <torch/serialize.h>

#include <vector>

#include "cigl/core/files.hpp"
#include "cigl/error.hpp"
#include "cigl/masking.hpp"

namespace cigl {

namespace {

std::string first_line(const std::string& text) {
  return text.substr(0, text.find('\n'));
}

std::string shape_text(const torch::Tensor& t) {
  std::string out = "[";
  for (std::int64_t i = 0; i < t.dim(); ++i) {
    out += (i ? ", " : "") + std::to_string(t.size(i));
  }
  return out + "]";
}

// Every parameter and buffer by its dotted name, as named_parameters and
// named_buffers give them.
std::map<std::string, torch::Tensor> named_state(torch::nn::Module& model) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : model.named_parameters()) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) out[b.key()] = b.value();
  return out;
}

std::map<std::string, torch::Tensor> tensor_dict(const c10::IValue& value,
                                                 const std::string& what) {
  if (!value.isGenericDict()) throw Error(what + " is not a dictionary");
  std::map<std::string, torch::Tensor> out;
  for (const auto& entry : value.toGenericDict()) {
    if (!entry.key().isString() || !entry.value().isTensor()) {
      throw Error(what + " holds an entry that is not name -> tensor");
    }
    out[entry.key().toStringRef()] = entry.value().toTensor();
  }
  return out;
}

/// torch::pickle_save's format (what Python's torch.save writes) without
/// its type tags: pickle_save wraps every dict in a call to
/// torch.jit._pickle.restore_type_tag, which PyTorch 2.6 and later refuse
/// in torch.load's default weights_only mode. Plain dicts of strings and
/// tensors load in every version, with the defaults.
std::vector<char> pickle_without_type_tags(const c10::IValue& value) {
  std::vector<char> pickled;
  torch::jit::Pickler pickler(
      [&](const char* bytes, std::size_t size) {
        pickled.insert(pickled.end(), bytes, bytes + size);
      },
      nullptr, nullptr, nullptr, nullptr, /*tag_aggregates=*/false);
  pickler.protocol();
  pickler.pushIValue(value);
  pickler.stop();
  std::vector<char> out;
  caffe2::serialize::PyTorchStreamWriter writer(
      [&](const void* bytes, std::size_t size) {
        const auto* b = static_cast<const char*>(bytes);
        out.insert(out.end(), b, b + size);
        return size;
      });
  torch::jit::writeArchiveAndTensors("data", pickled.data(), pickled.size(),
                                     pickler.tensorData(), writer);
  writer.writeEndOfFile();
  return out;
}

}  // namespace

ModelFile model_file_of(torch::nn::Module& model, const MaskSet* masks) {
  ModelFile file;
  for (const auto& [name, tensor] : named_state(model)) {
    file.state[name] = tensor.detach().to(torch::kCPU).clone();
  }
  if (masks) {
    for (std::size_t i = 0; i < masks->size(); ++i) {
      file.masks[masks->name(i)] = masks->mask(i).to(torch::kCPU).clone();
    }
  }
  return file;
}

void write_model_file(const std::string& path, const ModelFile& file) {
  c10::Dict<std::string, torch::Tensor> state, masks;
  for (const auto& [name, tensor] : file.state) state.insert(name, tensor);
  for (const auto& [name, tensor] : file.masks) masks.insert(name, tensor);
  c10::Dict<std::string, std::string> info;
  for (const auto& [key, value] : file.info) info.insert(key, value);
  c10::impl::GenericDict top(c10::StringType::get(), c10::AnyType::get());
  top.insert("state_dict", state);
  top.insert("masks", masks);
  top.insert("info", info);
  const std::vector<char> bytes = pickle_without_type_tags(top);
  write_file_atomic(path, std::string_view(bytes.data(), bytes.size()));
}

ModelFile read_model_file(const std::string& path) {
  const std::string bytes = read_file(path);
  c10::IValue value;
  try {
    value = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end()));
  } catch (const std::exception& e) {
    throw Error("cannot read model file " + path + ": " + first_line(e.what()));
  }
  ModelFile file;
  try {
    if (!value.isGenericDict()) {
      throw Error("it does not hold a dictionary");
    }
    const auto dict = value.toGenericDict();
    if (!dict.contains("state_dict")) {  // a plain state dict
      file.state = tensor_dict(value, "it");
      return file;
    }
    file.state = tensor_dict(dict.at("state_dict"), "its \"state_dict\"");
    if (dict.contains("masks")) {
      file.masks = tensor_dict(dict.at("masks"), "its \"masks\"");
    }
    if (dict.contains("info") && dict.at("info").isGenericDict()) {
      for (const auto& entry : dict.at("info").toGenericDict()) {
        if (entry.key().isString() && entry.value().isString()) {
          file.info[entry.key().toStringRef()] = entry.value().toStringRef();
        }
      }
    }
  } catch (const Error& e) {
    throw Error("cannot read model file " + path + ": " + e.what());
  }
  return file;
}

void load_model_state(torch::nn::Module& model,
                      const std::map<std::string, torch::Tensor>& state,
                      const std::string& source) {
  auto target = named_state(model);
  for (const auto& [name, tensor] : target) {
    auto it = state.find(name);
    if (it == state.end()) {
      throw Error(source + " has no tensor '" + name + "' that the model has");
    }
    if (it->second.sizes() != tensor.sizes()) {
      throw Error(source + ": '" + name + "' has shape " +
                  shape_text(it->second) + ", the model's is " +
                  shape_text(tensor));
    }
  }
  for (const auto& [name, tensor] : state) {
    if (!target.count(name)) {
      throw Error(source + " has a tensor '" + name +
                  "' that the model does not have");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, tensor] : target) {
    tensor.copy_(state.at(name).to(tensor.device(), tensor.scalar_type()));
  }
}

}  // namespace cigl
