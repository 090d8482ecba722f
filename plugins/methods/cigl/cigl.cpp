// Method `cigl` (Lei et al., ICLR 2023, Calibrated Rigged Lottery): RigL's
// deterministic mask M plus a random mask D drawn afresh every step, each
// active weight hidden with probability 1/dpnum. The paper's third part,
// weight averaging, is the `[averaging]` section (cigl/core/averaging.hpp),
// which works with any method: CigL is `cigl` + `[averaging]`.
//
// variant = "official" (default) follows the code that produced the
// paper's numbers, StevenBoys/CigL (sparselearning/core.py, main.py),
// with parameters P holding what the forward pass uses:
//  - The random mask is drawn after backward, before the optimizer step
//    (Masking.step: apply_w_raw, apply_dropout, optimizer.step;
//    core.py:754-762), so it hides weights in the *next* forward.
//  - Hidden weights are not exactly zero in that forward: they are zeroed
//    before the optimizer step, which then moves them by its update
//    (core.py:299 then 761), to about -lr times their update.
//  - A hidden weight comes back, one step later, with the value it had
//    when it was hidden (w_raw, core.py:297 and 310): the update of the
//    step in which it was hidden is lost, the update computed while it was
//    hidden is applied.
//  - Scaling: the parameters hold s * R * D (s = dpnum / (dpnum - 1)) and
//    the raw weights R move by -lr * g / s (core.py:297, 310). In the
//    units of P, which this code keeps, that is a plain step of -lr * g
//    and the factor cancels, except for a never-active connection grown
//    while hidden: it comes back as s times its dense initial weight
//    (w_raw aliases the weights before the first mask, core.py:241).
//  - Gradients of hidden weights are not masked: their momentum takes the
//    full gradient (only M masks, core.py:762-765).
//  - A topology update replaces the whole Masking.step (main.py:74-84):
//    no restore, so magnitude pruning ranks the hidden weights at their
//    near-zero values and drops them first, and growth uses the gradient
//    of the randomly masked forward. A connection grown while it is hidden
//    in D (drawn over every entry, core.py:298) is restored to its stale
//    w_raw value at the next step: the value it had when last active, or
//    s times its dense initial weight.
// variant = "restored" is the algorithm as the paper's text describes it:
// the mask is drawn before the forward, hidden weights are exactly zero
// and keep their value through the step, the visible ones are scaled by s
// in the forward and the step updates the unscaled weights with the
// chain rule's gradient s * g; an update step uses the full M * w.
//
// random_mask_draw picks how the hidden set is drawn and held: "host" as
// flat index lists from the method's CPU generator (a Binomial count and
// that many positions: O(hidden) work per step, the stream of earlier
// versions), "device" as bool masks from a BernoulliSampler on the
// weights' device (one uniform per weight, O(weights), but no host
// synchronisation or copy on CUDA). "auto": host on the CPU, device else.
#include <cmath>

#include "cigl/plugin.hpp"
#include "cigl/random.hpp"
#include "cigl/sparse.hpp"

namespace {

class CigL : public cigl::DynamicSparseMethod {
 public:
  explicit CigL(const cigl::Params& p)
      : DynamicSparseMethod(p, 104),
        hide_probability_(1.0 / p.number("dpnum")),
        scale_(p.number("dpnum") / (p.number("dpnum") - 1)),
        official_(p.string("variant") == "official"),
        draw_(p.string("random_mask_draw")) {}

  void setup(cigl::TrainContext& context) override {
    std::vector<torch::Tensor> dense_init;
    if (official_) {
      // w_raw starts as the dense initial weights (core.py:241; apply_mask
      // then rebinds weight.data, core.py:286), in units of P: s * w0.
      for (const auto& p : cigl::maskable_parameters(*context.model)) {
        dense_init.push_back(p.weight.detach().mul(scale_));
      }
    }
    DynamicSparseMethod::setup(context);
    const auto& masks = sparse_.masks();
    raw_ = std::move(dense_init);
    device_draw_ =
        draw_ == "device" || (draw_ == "auto" && !context.device.is_cpu());
    if (device_draw_) {
      // A stream of its own: the method's CPU generator draws the masks.
      sampler_ = cigl::BernoulliSampler(context.device,
                                        context.seed * 1000003ULL + 105);
    }
    hidden_.clear();
    stash_.clear();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      hidden_.push_back(device_draw_ ? torch::zeros_like(masks.mask(i))
                                     : torch::empty({0}, torch::kLong));
      if (!official_) stash_.push_back(torch::empty_like(masks.weight(i)));
    }
    refresh_active();
  }

  void before_step(cigl::TrainContext& context) override {
    if (official_) return;  // drawn after the previous backward
    // Restored variant: hide and scale for this forward; a topology-update
    // step uses the full M * w.
    random_mask_ = !sparse_.update_due(context);
    if (!random_mask_) return;
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      draw_hidden(i);
      stash_[i].copy_(weight);
      weight.mul_(scale_);
      zero_hidden(weight, i);
    }
  }

  // The deterministic mask's update is RigL's (with update_rule, the
  // sparselearning one).
  bool update_topology(cigl::TrainContext& context) override {
    auto& masks = sparse_.masks();
    std::vector<torch::Tensor> before;
    if (official_) {
      for (std::size_t i = 0; i < masks.size(); ++i) {
        before.push_back(masks.mask(i).clone());
      }
    }
    sparse_.drop_and_grow(
        context, [&](std::size_t i) { return masks.weight(i).grad().abs(); });
    refresh_active();
    if (official_) {
      // The next step restores the hidden entries D = 0 that are active
      // now: those that stay, plus each newly grown one with probability
      // 1/dpnum (D was drawn over every entry, core.py:298).
      for (std::size_t i = 0; i < masks.size(); ++i) {
        if (device_draw_) {
          const auto& mask = masks.mask(i);
          const auto grown = mask.logical_and(before[i].logical_not());
          hidden_[i] = hidden_[i].logical_and(mask).logical_or_(
              sampler_.keep_mask(grown, hide_probability_));
          continue;
        }
        const auto mask = masks.mask(i).reshape(-1).cpu();
        auto stays = hidden_[i].index_select(
            0, mask.index_select(0, hidden_[i]).nonzero().squeeze(1));
        auto grown = mask.logical_and(before[i].reshape(-1).cpu().logical_not())
                         .nonzero()
                         .squeeze(1);
        hidden_[i] =
            torch::cat({stays, cigl::bernoulli_dropped(grown, hide_probability_,
                                                       sparse_.generator())});
      }
    }
    return false;
  }

  void after_backward(cigl::TrainContext& context) override {
    DynamicSparseMethod::after_backward(context);  // mask by M
    if (official_) {
      if (!sparse_.update_due(context)) official_step(context);
      return;
    }
    if (!random_mask_) return;
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      auto grad = weight.mutable_grad();
      zero_hidden(grad, i);
      grad.mul_(scale_);
      weight.copy_(stash_[i]);  // the step updates the unscaled weights
    }
  }

  void after_step(cigl::TrainContext&) override {
    if (official_ || !random_mask_) return;
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      // Weights the random mask hid keep their value through the step.
      copy_hidden(masks.weight(i), stash_[i], i);
    }
  }

  /// The restored variant's forward used the scaled, randomly masked
  /// weights; the official one's parameters already are what it used.
  std::vector<torch::Tensor> averaging_snapshot(
      const cigl::TrainContext& context) const override {
    auto params = context.model->parameters();
    if (official_ || !random_mask_) return params;
    const auto& masks = sparse_.masks();
    for (auto& p : params) {
      for (std::size_t i = 0; i < masks.size(); ++i) {
        if (!p.is_same(masks.weight(i))) continue;
        p = p.detach().mul(scale_);
        zero_hidden(p, i);
      }
    }
    return params;
  }

  /// Official variant: the final model has every active weight, hidden
  /// ones restored (the published code only ever evaluates the average;
  /// without [averaging] this is the deterministic mask's network).
  std::shared_ptr<cigl::Model> finalize(cigl::TrainContext&) override {
    if (official_) {
      torch::NoGradGuard no_grad;
      auto& masks = sparse_.masks();
      for (std::size_t i = 0; i < masks.size(); ++i) {
        copy_hidden(masks.weight(i), raw_[i], i);
      }
    }
    return nullptr;
  }

  // The hidden sets are saved as flat indices whichever the draw, so a
  // checkpoint resumes with either; the device sampler's state is saved
  // under its device type (a resume on another device type starts that
  // sampler afresh from its seed).
  void save(torch::serialize::OutputArchive& a) const override {
    DynamicSparseMethod::save(a);
    for (std::size_t i = 0; i < hidden_.size(); ++i) {
      a.write("hidden/" + std::to_string(i), hidden_indices(i));
      if (official_) a.write("raw/" + std::to_string(i), raw_[i]);
    }
    if (device_draw_) sampler_.save(a, sampler_key());
  }
  void load(torch::serialize::InputArchive& a) override {
    DynamicSparseMethod::load(a);
    refresh_active();
    const auto& masks = sparse_.masks();
    for (std::size_t i = 0; i < hidden_.size(); ++i) {
      torch::Tensor t;
      // Saved at epoch ends: the restored variant's next step draws anew.
      if (a.try_read("hidden/" + std::to_string(i), t)) {
        t = t.cpu();
        if (device_draw_) {
          const auto& mask = masks.mask(i);
          t = torch::zeros({mask.numel()}, mask.options())
                  .index_fill_(0, t.to(mask.device()), true)
                  .view(mask.sizes());
        }
        hidden_[i] = t;
      }
      if (official_) a.read("raw/" + std::to_string(i), raw_[i]);
    }
    torch::Tensor state;
    if (device_draw_ && a.try_read(sampler_key(), state)) {
      sampler_.set_state(state);
    }
  }

 private:
  /// Masking.step's apply_w_raw and apply_dropout (core.py:303-311,
  /// 288-300) in units of P, at a step without topology update: the
  /// weights hidden in this step's forward come back, a new random mask
  /// hides weights for the next forward, and the optimizer then steps
  /// every active weight with its full gradient.
  void official_step(const cigl::TrainContext& context) {
    torch::NoGradGuard no_grad;
    auto& masks = sparse_.masks();
    // w_raw of a visible weight is its value in the step's forward. It is
    // only read when the weight is hidden (it is recorded then) or when a
    // dropped connection is grown while hidden, so all visible weights are
    // recorded only before an update step.
    const bool update_next = sparse_.update_due_at(context.step + 1);
    for (std::size_t i = 0; i < masks.size(); ++i) {
      const auto& weight = masks.weight(i);
      auto& raw = raw_[i];
      if (update_next) {
        const auto visible =
            device_draw_ ? masks.mask(i).logical_and(hidden_[i].logical_not())
                         : masks.mask(i);
        const auto kept = device_draw_ ? torch::Tensor()
                                       : raw.view(-1).index_select(
                                             0, hidden_[i].to(raw.device()));
        raw.copy_(torch::where(visible, weight.detach(), raw));
        if (!device_draw_) {
          raw.view(-1).index_copy_(0, hidden_[i].to(raw.device()), kept);
        }
      }
      copy_hidden(weight, raw, i);  // back from hiding
      draw_hidden(i);
      copy_hidden(raw, weight.detach(), i);
      zero_hidden(weight, i);
    }
  }

  /// A new hidden set for layer i: each active weight with probability
  /// 1/dpnum.
  void draw_hidden(std::size_t i) {
    hidden_[i] =
        device_draw_
            ? sampler_.keep_mask(sparse_.masks().mask(i), hide_probability_)
            : cigl::bernoulli_dropped(active_[i], hide_probability_,
                                      sparse_.generator());
  }

  /// t = 0 at layer i's hidden entries (t shaped like its weight).
  void zero_hidden(const torch::Tensor& t, std::size_t i) const {
    if (device_draw_) {
      t.masked_fill_(hidden_[i], 0);
    } else {
      t.view(-1).index_fill_(0, hidden_[i].to(t.device()), 0);
    }
  }

  /// dst = src at layer i's hidden entries.
  void copy_hidden(const torch::Tensor& dst, const torch::Tensor& src,
                   std::size_t i) const {
    if (device_draw_) {
      dst.copy_(torch::where(hidden_[i], src, dst));
    } else {
      const auto index = hidden_[i].to(dst.device());
      dst.view(-1).index_copy_(0, index,
                               src.reshape(-1).index_select(0, index));
    }
  }

  /// Layer i's hidden entries as flat indices on the CPU.
  [[nodiscard]] torch::Tensor hidden_indices(std::size_t i) const {
    if (!device_draw_) return hidden_[i];
    return hidden_[i].reshape(-1).nonzero().squeeze(1).cpu();
  }

  [[nodiscard]] std::string sampler_key() const {
    return "random_mask_generator/" +
           c10::DeviceTypeName(sampler_.device().type(), /*lower_case=*/true);
  }

  void refresh_active() {
    if (device_draw_) return;  // draws over the bool masks
    const auto& masks = sparse_.masks();
    active_.clear();
    for (std::size_t i = 0; i < masks.size(); ++i) {
      active_.push_back(masks.mask(i).reshape(-1).nonzero().squeeze(1).cpu());
    }
  }

  double hide_probability_, scale_;
  bool official_;
  std::string draw_;          ///< random_mask_draw
  bool device_draw_ = false;  ///< hidden sets are bool masks from sampler_
  cigl::BernoulliSampler sampler_;
  /// The weights the random mask hides: in the official variant those
  /// hidden in the current forward, in the restored one those of the last
  /// step. Host draw: flat indices on the CPU, with active_ the flat
  /// indices of the active weights; device draw: bool masks shaped like
  /// the weights, on their device.
  std::vector<torch::Tensor> active_, hidden_;
  std::vector<torch::Tensor> raw_;    ///< official: w_raw in units of P
  std::vector<torch::Tensor> stash_;  ///< restored: unscaled weights
  bool random_mask_ = false;          ///< restored: this step hides weights
};

void register_cigl(cigl::Registrar& r) {
  auto params = cigl::DynamicSparsity::params("erk");
  params.push_back(cigl::DynamicSparsity::update_rule_param());
  params.push_back(cigl::ParamSpec::number("dpnum", 100,
                                           "the random mask hides 1/dpnum "
                                           "of the active weights each step "
                                           "(the published code runs 100 "
                                           "always; its README says 10 for "
                                           "CIFAR-100)")
                       .greater_than(1));
  params.push_back(
      cigl::ParamSpec::string("variant", "official",
                              "\"official\": as the published CigL code "
                              "(mask drawn after backward, restore from "
                              "w_raw, no restore at updates); \"restored\": "
                              "as the paper's text (mask before the forward, "
                              "hidden weights exactly zero and kept)")
          .one_of({"official", "restored"}));
  params.push_back(
      cigl::ParamSpec::string(
          "random_mask_draw", "auto",
          "how the random mask is drawn: \"host\" (a Binomial count and "
          "that many positions from the method's CPU generator, O(hidden) "
          "per step), \"device\" (one uniform per weight on the weights' "
          "device: no host synchronisation on CUDA), \"auto\" (host on "
          "the CPU, device otherwise)")
          .one_of({"auto", "host", "device"}));
  r.add<cigl::Method>(
      {"cigl",
       "CigL: RigL mask plus a per-step random mask (Lei et al. 2023); add "
       "[averaging] for the full method",
       params},
      [](const cigl::Params& p) { return std::make_shared<CigL>(p); });
}

}  // namespace

CIGL_PLUGIN("cigl", "1.0.0", register_cigl)
