"""A tiny epoch-based training loop (pure Python logistic regression on generated data) that reports
one functional unit per epoch to carbon-gate. No downloads, no third-party packages.

    python train.py --epochs 2 --samples 4000
"""

import argparse
import math
import random

import carbon_gate


def make_data(n: int, dims: int, rng: random.Random):
    w_true = [rng.uniform(-1, 1) for _ in range(dims)]
    data = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(dims)]
        y = 1 if sum(a * b for a, b in zip(w_true, x)) + rng.gauss(0, 0.3) > 0 else 0
        data.append((x, y))
    return data


def train_epoch(data, w, lr):
    correct = 0
    for x, y in data:
        z = sum(a * b for a, b in zip(w, x))
        p = 1.0 / (1.0 + math.exp(-max(min(z, 30), -30)))
        correct += (p > 0.5) == (y == 1)
        g = p - y
        for i, xi in enumerate(x):
            w[i] -= lr * g * xi
    return correct / len(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--dims", type=int, default=16)
    args = ap.parse_args()
    rng = random.Random(0)
    data = make_data(args.samples, args.dims, rng)
    w = [0.0] * args.dims
    for epoch in range(args.epochs):
        acc = train_epoch(data, w, lr=0.01)
        carbon_gate.report_units(1, name="epoch")  # one functional unit per epoch
        print(f"epoch {epoch + 1}: accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
