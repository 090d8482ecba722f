"""Training speed of a LibTorch build on the CPU, through its Python torch:
the kernels cigl's CPU runs spend their time in, measured without building
cigl against it. Trains cigl's LeNet-5 and LeNet-300-100 (same layers) on
Fashion-MNIST-shaped random data with SGD (momentum 0.9, Nesterov, weight
decay 5e-4), batch 128, one thread, and prints the CPU time per step
(process time: what the step costs, not what a loaded machine's scheduler
gives it). Run it with each Python and compare (docs/torch.md):

    /usr/bin/python3 bench/libtorch_speed.py      # Debian's python3-torch
    .venv/bin/python bench/libtorch_speed.py      # the PyPI wheel
"""
import argparse
import statistics
import time

import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(256, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = torch.max_pool2d(torch.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(784, 300), nn.Linear(300, 100), nn.Linear(100, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def step_seconds(model, steps, repeats):
    torch.manual_seed(0)
    x = torch.randn(steps * 128, 1, 28, 28)
    y = torch.randint(0, 10, (steps * 128,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    out = []
    for _ in range(repeats):
        start = time.process_time()
        for s in range(steps):
            xb, yb = x[s * 128:(s + 1) * 128], y[s * 128:(s + 1) * 128]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        out.append((time.process_time() - start) / steps)
    return statistics.median(out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    a = parser.parse_args()
    torch.set_num_threads(1)
    for name, model in (("lenet5", LeNet5()), ("mlp", MLP())):
        s = step_seconds(model, a.steps, a.repeats)
        print(f"torch {torch.__version__} {name}: {1e3 * s:.2f} ms CPU per step "
              f"(batch 128, 1 thread, median of {a.repeats} x {a.steps})")


if __name__ == "__main__":
    main()
