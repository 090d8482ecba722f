"""Loads a cigl run's model.pt into plain PyTorch, without cigl, and checks
it against the run: cigl's `mlp` model (LeNet-300-100 by default) on
Fashion-MNIST, read and normalised as cigl's fashion_mnist dataset does.

    python3 docs/examples/load_model.py RUN_DIR

With predictions.csv in RUN_DIR (experiment.save_predictions = true) it
prints the largest difference from the run's probabilities and exits 1 if
that exceeds 1e-5; without it, it compares the test accuracy with
metrics.json.
"""
import gzip
import json
import os
import sys
import tomllib

import torch
from torch import nn


class MLP(nn.Module):
    """cigl's `mlp`: Linear layers fc1 .. fcN, ReLU between them."""

    def __init__(self, hidden=(300, 100), inputs=784, classes=10):
        super().__init__()
        sizes = [inputs, *hidden, classes]
        self.layers = len(sizes) - 1
        for i in range(self.layers):
            setattr(self, f"fc{i + 1}", nn.Linear(sizes[i], sizes[i + 1]))

    def forward(self, x):
        x = x.flatten(1)
        for i in range(self.layers):
            x = getattr(self, f"fc{i + 1}")(x)
            if i + 1 < self.layers:
                x = torch.relu(x)
        return x


def idx_file(folder, stem, header):
    path = os.path.join(folder, stem)
    opener = gzip.open if os.path.exists(path + ".gz") else open
    with opener(path + ".gz" if opener is gzip.open else path, "rb") as f:
        return bytearray(f.read()[header:])


def main():
    run = sys.argv[1]
    with open(os.path.join(run, "config.toml"), "rb") as f:
        config = tomllib.load(f)
    data = config["data"]

    saved = torch.load(os.path.join(run, "model.pt"))
    model = MLP(config["model"]["hidden"])
    model.load_state_dict(saved["state_dict"])  # names as --inspect prints
    model.eval()

    images = torch.frombuffer(idx_file(data["root"], "t10k-images-idx3-ubyte", 16),
                              dtype=torch.uint8).view(-1, 1, 28, 28)
    labels = torch.frombuffer(idx_file(data["root"], "t10k-labels-idx1-ubyte", 8),
                              dtype=torch.uint8).long()
    if data["test_limit"] > 0:
        images, labels = images[:data["test_limit"]], labels[:data["test_limit"]]
    x = images.float() / 255.0
    if data["normalize"]:
        x = (x - 0.2860) / 0.3530  # Fashion-MNIST's mean and std, as cigl
    with torch.no_grad():
        probabilities = torch.softmax(model(x).double(), 1)

    masks = saved["masks"]
    ones = sum(int(m.sum()) for m in masks.values())
    total = sum(m.numel() for m in masks.values())
    print(f"{len(masks)} masks, density {ones / max(1, total):.4f}")

    predictions = os.path.join(run, "predictions.csv")
    if os.path.exists(predictions):
        with open(predictions) as f:
            rows = f.read().split("\n")[1:-1]
        expected = torch.tensor([[float(v) for v in r.split(",")] for r in rows],
                                dtype=torch.float64)
        if not torch.equal(expected[:, 0].long(), labels):
            sys.exit("labels differ from predictions.csv")
        worst = (expected[:, 1:] - probabilities).abs().max().item()
        print(f"{len(rows)} predictions, largest difference {worst:.2e}")
        sys.exit(0 if worst <= 1e-5 else 1)
    accuracy = (probabilities.argmax(1) == labels).double().mean().item()
    with open(os.path.join(run, "metrics.json")) as f:
        expected = json.load(f)["test"]["accuracy"]
    print(f"test accuracy {accuracy:.4f}, the run's {expected:.4f}")
    sys.exit(0 if abs(accuracy - expected) < 1e-9 else 1)


if __name__ == "__main__":
    main()
