// Method `dense`: no masks; the baseline every comparison is made against.
#include "cigl/method.hpp"
#include "cigl/plugin.hpp"

namespace {

class Dense : public cigl::Method {};

void register_dense(cigl::Registrar& r) {
  r.add<cigl::Method>(
      {"dense", "no sparsity: the dense baseline", {}},
      [](const cigl::Params&) { return std::make_shared<Dense>(); });
}

}  // namespace

CIGL_PLUGIN("dense", "1.0.0", register_dense)
