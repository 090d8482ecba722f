#pragma once
// model.pt: a trained model as Python's torch.load reads it without cigl.
// The file holds one dictionary:
//   "state_dict": parameter and buffer name -> tensor (names as --inspect
//                 prints them), for model.load_state_dict(...)
//   "masks":      maskable weight name -> bool tensor (empty for dense)
//   "info":       name -> string (cigl version, model, method, dataset, ...)
#include <map>
#include <string>

#include <torch/nn/module.h>
#include <torch/types.h>

#include "cigl/export.hpp"

namespace cigl {

class MaskSet;

struct ModelFile {
  std::map<std::string, torch::Tensor> state;
  std::map<std::string, torch::Tensor> masks;
  std::map<std::string, std::string> info;
};

/// The parameters and buffers of `model` (on the CPU), and the masks.
CIGL_API ModelFile model_file_of(torch::nn::Module& model,
                                 const MaskSet* masks);

/// Writes `file` atomically to `path` in the format of Python's torch.save.
CIGL_API void write_model_file(const std::string& path, const ModelFile& file);

/// Reads a model.pt; a plain name -> tensor dictionary (a state dict saved
/// by Python's torch.save) is read as its "state_dict". Throws Error with
/// one line naming the file.
CIGL_API ModelFile read_model_file(const std::string& path);

/// Copies `state` into the parameters and buffers of `model`: every name
/// must be there with the same shape, or Error names the first that is
/// missing, extra or mis-shaped, and `source`.
CIGL_API void load_model_state(
    torch::nn::Module& model, const std::map<std::string, torch::Tensor>& state,
    const std::string& source);

}  // namespace cigl
