"""Tutorial 1: iris with two sigmoid outputs, the third class implied.

The network of the classic "neural network from scratch" post on iris:
4 inputs plus a bias -> 10 sigmoid units (plus a bias) -> 2 sigmoid outputs,
trained by full-batch gradient descent with eta = 0.02 on all 150 flowers
(raw measurements, as in the post). Output k says "this is class k" for
k = 0, 1 (one-vs-all); class 2 gets no unit of its own: its score is
p3 = 1 - p1 - p2, and the prediction is the largest of (p1, p2, p3).

The error is the sum of squared errors over flowers and outputs,
E = ½ Σ_n Σ_k (O_nk - t_nk)², so the hand-written backprop below uses the
classic δ rules:

    δ_k = (O_k - t_k) O_k (1 - O_k)              (output units)
    δ_j = O_j (1 - O_j) Σ_k δ_k W_jk             (hidden units)
    ∂E/∂W_ij = Σ_n O_i δ_j,  ∂E/∂θ_j = Σ_n δ_j

Every iteration compares them with the gradients autograd leaves in
``.grad``; the printed "max |diff|" is the largest disagreement so far.

A remark on the post itself: its code multiplies the hidden layer's error by
dy/dz = -y(1 - y) a second time, which flips the sign of the hidden layer's
step (gradient ascent there), which is why the SE it prints grows from one
iteration to the next. The last lines of this script measure that: the
post's hidden-layer update points exactly against -∂E/∂W. Checking
hand-derived gradients against autograd catches such slips at once.

Run: python examples/tutorial1_iris.py [--quick] [--every N]
(--quick, or TINYGRAD_NN_QUICK=1: 60 iterations instead of 1000; --every N
prints every N-th iteration, default 50 after the first ten.)
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tinygrad_nn import data, nn, optim

QUICK = "--quick" in sys.argv or os.environ.get("TINYGRAD_NN_QUICK") == "1"
ITERATIONS = 60 if QUICK else 1000
EVERY = int(sys.argv[sys.argv.index("--every") + 1]) if "--every" in sys.argv else 50
ETA = 0.02


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def backprop_by_hand(W1, b1, W2, b2, X, T):
    """The classic δ rules in numpy: returns ∂E/∂(W1, b1, W2, b2) for E = ½ Σ (O_k - t_k)²."""
    O_j = sigmoid(X @ W1 + b1)  # hidden outputs, (150, 10)
    O_k = sigmoid(O_j @ W2 + b2)  # network outputs, (150, 2)
    delta_k = (O_k - T) * O_k * (1 - O_k)
    delta_j = O_j * (1 - O_j) * (delta_k @ W2.T)
    return {"W1": X.T @ delta_j, "b1": delta_j.sum(axis=0), "W2": O_j.T @ delta_k, "b2": delta_k.sum(axis=0)}


def accuracy(outputs: np.ndarray, y: np.ndarray) -> float:
    """One-vs-all with the third class implied: p3 = 1 - p1 - p2, predict the largest."""
    p = np.column_stack([outputs, 1.0 - outputs.sum(axis=1)])
    return float(np.mean(p.argmax(axis=1) == y))


def main() -> None:
    X, y = data.load_iris()
    T = np.column_stack([y == 0, y == 1]).astype(float)  # class 2 is the target (0, 0)

    # The post draws every weight, bias row included, from U(-1, 1).
    def uniform(shape, rng, dtype):
        return rng.uniform(-1.0, 1.0, shape).astype(dtype)

    rng = np.random.default_rng(0)
    hidden = nn.Dense(4, 10, init=uniform, bias_init=uniform, rng=rng)
    output = nn.Dense(10, 2, init=uniform, bias_init=uniform, rng=rng)
    model = nn.Sequential(hidden, nn.Sigmoid(), output, nn.Sigmoid())
    params = {"W1": hidden.weight, "b1": hidden.bias, "W2": output.weight, "b2": output.bias}
    opt = optim.SGD(model, lr=ETA)

    print(f"iris: 150 x 4, network 4+1 -> 10+1 sigmoid -> 2 sigmoid, eta = {ETA}, {ITERATIONS} iterations")
    worst = 0.0
    for it in range(ITERATIONS):
        O_k = model(X)
        E = nn.sse_loss(O_k, T)  # ½ Σ (O - t)²
        opt.zero_grad()
        E.backward()
        hand = backprop_by_hand(*(np.asarray(p.data) for p in params.values()), X, T)
        diff = max(float(np.max(np.abs(params[k].grad - hand[k]))) for k in params)
        worst = max(worst, diff)
        if it < 10 or (it + 1) % EVERY == 0 or it == ITERATIONS - 1:
            print(
                f"iter {it:4d}  E = {E.item():8.4f}  accuracy = {100 * accuracy(O_k.data, y):5.1f}%  "
                f"max |autograd - by hand| = {diff:.1e}"
            )
        opt.step()

    print("\ngradients at the final weights, autograd next to the δ rules (first entries):")
    O_k = model(X)
    opt.zero_grad()
    nn.sse_loss(O_k, T).backward()
    hand = backprop_by_hand(*(np.asarray(p.data) for p in params.values()), X, T)
    for name, p in params.items():
        a, h = np.ravel(p.grad)[:3], np.ravel(hand[name])[:3]
        auto, by_hand = np.array2string(a, precision=5), np.array2string(h, precision=5)
        print(f"  {name:3s} autograd {auto}  by hand {by_hand}")
    print(f"max |autograd - by hand| over all {ITERATIONS} iterations: {worst:.2e}")
    print(f"final accuracy: {100 * accuracy(O_k.data, y):.1f}%")

    # The post's hidden-layer update, as its code computes it (with its SE = Σ (t - y)², no ½):
    # dE/dy = -0.5 (t - y) and dy/dz = -y (1 - y), used for the output AND the hidden layer.
    W1, b1, W2, b2 = (np.asarray(p.data) for p in params.values())
    Xb = np.column_stack([X, np.ones(len(X))])
    O_j = sigmoid(Xb @ np.vstack([W1, b1]))
    O_k = sigmoid(O_j @ W2 + b2)
    dEdz = (-0.5 * (T - O_k)) * (-(1 - O_k) * O_k)
    post_step = Xb.T @ ((dEdz @ W2.T) * (-(1 - O_j) * O_j))  # the post adds eta times this
    descent = -np.vstack([hand["W1"], hand["b1"]])  # the direction that lowers E
    cosine = float(np.sum(post_step * descent) / (np.linalg.norm(post_step) * np.linalg.norm(descent)))
    print(f"cosine between the post's hidden-layer step and -∂E/∂W: {cosine:+.3f} (+1 would be descent)")


if __name__ == "__main__":
    main()
