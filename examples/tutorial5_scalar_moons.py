"""Tutorial 5: a micrograd-style MLP on two moons, every weight its own scalar Value.

The network is ``MLP`` from ``examples/scalar_mlp.py``: 2 inputs -> 8 tanh
-> 8 tanh -> 1 linear output, built from ``Neuron`` modules whose weights are
scalar ``nn.Parameter``s (a Python float each), so one forward pass records
a graph with one node per multiply and add. It is trained with Adam on the
mean logistic loss E = mean_n [log(1 + e^{s_n}) - y_n s_n] of the output
score s (``nn.binary_cross_entropy_with_logits``).

The hand-written backprop gathers the scalar weights into matrices
(W[j, k] = weight from unit j into neuron k) and runs the δ rules in numpy:

    δ_out = (σ(s) - y) / N                       (logistic loss on a linear output)
    δ_j   = (1 - O_j²) Σ_k δ_k W_jk              (tanh' = 1 - O²)
    ∂E/∂W_ij = Σ_n O_i δ_j,  ∂E/∂θ_j = Σ_n δ_j

and its numbers are compared with the ``.grad`` of every scalar parameter.
With matplotlib installed the script saves the decision boundary as a PNG.

Run: python examples/tutorial5_scalar_moons.py [--quick] [--out moons_boundary.png]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from scalar_mlp import MLP  # the sibling example: python puts this script's folder on sys.path

from tinygrad_nn import data, nn, no_grad, optim, stack

QUICK = "--quick" in sys.argv or os.environ.get("TINYGRAD_NN_QUICK") == "1"
STEPS = 8 if QUICK else 60
N_TRAIN = 40 if QUICK else 80
OUT = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else "moons_boundary.png"


def weight_matrices(model: MLP) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per layer from the scalar parameters: W[j, k] = neuron k's weight from input j."""
    out = []
    for layer in model.layers:
        W = np.array([[w.data for w in neuron.w] for neuron in layer.neurons]).T
        b = np.array([neuron.b.data for neuron in layer.neurons])
        out.append((W, b))
    return out


def backprop_by_hand(layers: list[tuple[np.ndarray, np.ndarray]], X: np.ndarray, y: np.ndarray):
    """δ rules for tanh hidden layers, a linear output and the mean logistic loss."""
    outputs = [X]
    for i, (W, b) in enumerate(layers):
        z = outputs[-1] @ W + b
        outputs.append(z if i == len(layers) - 1 else np.tanh(z))
    score = outputs[-1]
    delta = (1.0 / (1.0 + np.exp(-score)) - y[:, None]) / len(X)
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        W, _ = layers[i]
        grads.append((outputs[i].T @ delta, delta.sum(axis=0)))
        if i > 0:
            delta = (1.0 - outputs[i] ** 2) * (delta @ W.T)
    return grads[::-1]


def hand_gradients(model: MLP, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """The δ-rule gradients, keyed like ``model.named_parameters()``."""
    hand = backprop_by_hand(weight_matrices(model), X, y)
    out = {}
    for i, (dW, db) in enumerate(hand):
        for k in range(dW.shape[1]):
            out[f"layers.{i}.neurons.{k}.b"] = float(db[k])
            for j in range(dW.shape[0]):
                out[f"layers.{i}.neurons.{k}.w.{j}"] = float(dW[j, k])
    return out


def scores(model: MLP, X: np.ndarray) -> np.ndarray:
    with no_grad():
        return np.array([model(row).data for row in X])


def plot_boundary(model: MLP, X: np.ndarray, y: np.ndarray, path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    lo, hi = X.min(axis=0) - 0.5, X.max(axis=0) + 0.5
    n = 25 if QUICK else 60
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n), np.linspace(lo[1], hi[1], n))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    s = scores(model, grid).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.contourf(gx, gy, s, levels=[-1e9, 0, 1e9], colors=["#dbeafe", "#fde2e2"])
    ax.contour(gx, gy, s, levels=[0], colors="k", linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=25)
    ax.set_title("scalar MLP 2-8-8-1 on two moons: decision boundary")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def main() -> None:
    start = time.perf_counter()
    X_all, y_all = data.moons(2 * N_TRAIN, noise=0.1, rng=0)
    X_all, _, _ = data.standardize(X_all)
    X, X_test, y, y_test = data.train_test_split(X_all, y_all, test_size=0.5, rng=0, stratify=True)
    model = MLP(2, [8, 8, 1], rng=np.random.default_rng(0))
    n_params = sum(1 for _ in model.parameters())
    opt = optim.Adam(model.parameters(), lr=0.05)
    print(f"two moons: {len(X)} training points; MLP 2-8-8-1 with {n_params} scalar parameters")

    worst = 0.0
    for step in range(STEPS):
        s = stack([model(row) for row in X])  # one scalar graph per example
        E = nn.binary_cross_entropy_with_logits(s, y.astype(float))
        opt.zero_grad()
        E.backward()
        hand = hand_gradients(model, X, y.astype(float))
        diff = max(abs(p.grad - hand[name]) for name, p in model.named_parameters())
        worst = max(worst, diff)
        if step == 0:
            print("gradients of the first step, autograd | by hand:")
            for name, p in list(model.named_parameters())[::35]:
                print(f"  {name:22s} {p.grad:+.10f} | {hand[name]:+.10f}")
        if step % max(1, STEPS // 8) == 0 or step == STEPS - 1:
            acc = float(np.mean((s.data > 0) == y))
            print(f"step {step:3d}  E = {E.item():.4f}  accuracy {100 * acc:5.1f}%  max |diff| = {diff:.1e}")
        opt.step()

    train_acc = float(np.mean((scores(model, X) > 0) == y))
    test_acc = float(np.mean((scores(model, X_test) > 0) == y_test))
    print(
        f"train accuracy {100 * train_acc:.1f}%, test accuracy {100 * test_acc:.1f}% ({len(X_test)} held out)"
    )
    print(f"max |autograd - by hand| over all {STEPS} steps and {n_params} parameters: {worst:.2e}")
    if plot_boundary(model, X_all, y_all, OUT):
        print(f"decision boundary saved to {OUT}")
    else:
        print("matplotlib is not installed: no decision-boundary picture (pip install matplotlib)")
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
