"""The baseline of bench/gpu.sh: the same models and methods trained by a
plain PyTorch eager loop, as the CigL authors' code trains them (masks
applied to the weights after each optimizer step, RigL's drop-and-grow
every 100 steps, CigL's per-step random mask with inverted-dropout
scaling), on CIFAR-shaped synthetic data already on the GPU.

    python3 bench/gpu_eager.py --model cifar_resnet --methods dense,rigl,cigl

One line per run, as cigl-bench-gpu prints them:
    RESULT eager <model> <precision> <method> <images/s> <ms/step>
"""
import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn


def conv(i, o, k, stride=1):
    return nn.Conv2d(i, o, k, stride=stride, padding=k // 2, bias=False)


class Bottleneck(nn.Module):
    """pytorch-cifar's, as cigl's cifar_resnet (depth 50)."""

    expansion = 4

    def __init__(self, i, planes, stride):
        super().__init__()
        o = planes * 4
        self.conv1, self.bn1 = conv(i, planes, 1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, stride), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = conv(planes, o, 1), nn.BatchNorm2d(o)
        self.downsample = (nn.Sequential(conv(i, o, 1, stride), nn.BatchNorm2d(o))
                           if stride != 1 or i != o else None)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet50(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1, self.bn1 = conv(3, 64, 3), nn.BatchNorm2d(64)
        layers, i = [], 64
        for s, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
            for b in range(blocks):
                layers.append(Bottleneck(i, planes, 2 if s > 0 and b == 0 else 1))
                i = planes * 4
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(i, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class WideBlock(nn.Module):
    """Pre-activation block, as cigl's wide_resnet."""

    def __init__(self, i, o, stride):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(i), conv(i, o, 3, stride)
        self.bn2, self.conv2 = nn.BatchNorm2d(o), conv(o, o, 3)
        self.shortcut = conv(i, o, 1, stride) if i != o or stride != 1 else None

    def forward(self, x):
        o = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(o)
        o = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return o + skip


class WideResNet(nn.Module):
    def __init__(self, depth=22, width=2, classes=10):
        super().__init__()
        n = (depth - 4) // 6
        self.conv1 = conv(3, 16, 3)
        blocks, i = [], 16
        for s, o in enumerate((16 * width, 32 * width, 64 * width)):
            for b in range(n):
                blocks.append(WideBlock(i, o, 2 if s > 0 and b == 0 else 1))
                i = o
        self.blocks = nn.Sequential(*blocks)
        self.bn, self.fc = nn.BatchNorm2d(i), nn.Linear(i, classes)

    def forward(self, x):
        x = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class Sparse:
    """Masks on every Conv and Linear weight, the sparselearning way."""

    def __init__(self, model, density, method, dpnum=100, interval=100):
        self.weights = [m.weight for m in model.modules()
                        if isinstance(m, (nn.Conv2d, nn.Linear))]
        self.masks = [torch.rand_like(w) < density for w in self.weights]
        self.method, self.interval, self.step_count = method, interval, 0
        self.p, self.scale = 1.0 / dpnum, dpnum / (dpnum - 1)
        self.apply()

    @torch.no_grad()
    def apply(self):
        for w, m in zip(self.weights, self.masks):
            w.mul_(m)

    def update_due(self):
        return self.step_count > 0 and self.step_count % self.interval == 0

    @torch.no_grad()
    def before_forward(self):
        """CigL: hide a random 1/dpnum of the active weights, scale the rest."""
        self.keep = None
        if self.method != "cigl" or self.update_due():
            return
        self.stash = [w.detach().clone() for w in self.weights]
        self.keep = [(torch.rand_like(w) >= self.p) & m
                     for w, m in zip(self.weights, self.masks)]
        for w, k in zip(self.weights, self.keep):
            w.mul_(k).mul_(self.scale)

    @torch.no_grad()
    def after_backward(self):
        if self.method != "dense" and self.update_due():
            self.drop_and_grow(0.3)
        for i, (w, m) in enumerate(zip(self.weights, self.masks)):
            if self.keep is not None:
                w.grad.mul_(self.keep[i]).mul_(self.scale)
                w.copy_(self.stash[i])
            else:
                w.grad.mul_(m)

    @torch.no_grad()
    def after_step(self):
        self.apply()
        if self.keep is not None:  # hidden weights keep their value
            for w, k, s, m in zip(self.weights, self.keep, self.stash, self.masks):
                w.copy_(torch.where(k | ~m, w, s))
        self.step_count += 1

    @torch.no_grad()
    def drop_and_grow(self, fraction):
        for i, (w, m) in enumerate(zip(self.weights, self.masks)):
            k = int(fraction * int(m.sum()))
            flat = m.flatten().clone()
            score = torch.where(flat, w.abs().flatten(), torch.inf)
            flat[torch.topk(score, k, largest=False).indices] = False
            grow = torch.where(flat, -torch.inf, w.grad.abs().flatten())
            flat[torch.topk(grow, k).indices] = True
            self.masks[i] = flat.view_as(m)


def run(model_name, method, precision, batch, steps, warmup, density):
    torch.manual_seed(0)
    device = torch.device("cuda")
    model = (CifarResNet50() if model_name == "cifar_resnet" else WideResNet()).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9,
                                nesterov=True, weight_decay=5e-4)
    sparse = None if method == "dense" else Sparse(model, density, method)
    total = warmup + steps
    inputs = torch.randn(batch * total, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (batch * total,), device=device)
    order = torch.randperm(batch * total, device=device)
    model.train()
    for step in range(total):
        if step == warmup:
            torch.cuda.synchronize()
            start = time.perf_counter()
        index = order[step * batch:(step + 1) * batch]
        x, y = inputs.index_select(0, index), labels.index_select(0, index)
        if sparse:
            sparse.before_forward()
        optimizer.zero_grad(set_to_none=False)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.cross_entropy(model(x), y)
        loss.backward()
        if sparse:
            sparse.after_backward()
        optimizer.step()
        if sparse:
            sparse.after_step()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="cifar_resnet",
                        choices=["cifar_resnet", "wide_resnet"])
    parser.add_argument("--methods", default="dense,rigl,cigl")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--density", type=float, default=0.1)
    a = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_eager.py: no CUDA device")
    for precision in a.precisions.split(","):
        for method in a.methods.split(","):
            s = run(a.model, method, precision, a.batch, a.steps, a.warmup, a.density)
            print(f"RESULT eager {a.model} {precision} {method} "
                  f"{a.batch / s:.1f} {1e3 * s:.3f}", flush=True)


if __name__ == "__main__":
    main()
