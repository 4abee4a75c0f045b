"""Tutorial 4: a 2 -> 3 sigmoid -> 1 sigmoid network without biases, on y = x0 + x1 and on OR.

The ``Neural_Network`` class of the classic post: W1 (2 x 3) and W2 (3 x 1)
drawn from a standard normal, no biases, sigmoid everywhere, cost
J = ½ Σ (y - ŷ)² and plain gradient descent (learning rate 0.01, gradients
summed over the whole batch). Its ``costFunctionPrime`` is backprop written
out, with sigmoid'(z) = e^-z / (1 + e^-z)²:

    delta3 = -(y - ŷ) ⊙ sigmoid'(z3)           (δ_k of the output unit)
    dJ/dW2 = a2ᵀ · delta3
    delta2 = (delta3 · W2ᵀ) ⊙ sigmoid'(z2)     (δ_j of the hidden units)
    dJ/dW1 = Xᵀ · delta2

Two problems, as in the post:

1. "learn to add": 10,000 random points x in [0, 1)², target y = x0 + x1.
   Half of these targets exceed 1, which a sigmoid output can never reach,
   so the error stalls well above zero (SSE / N about 0.09, as in the
   post) and the largest predictions sit just under 1.
   (``tinygrad_nn.data.sum_data`` draws from [0, 0.5)² by default, where
   every target is below 1; this script asks for the post's [0, 1)².)
2. the OR gate on its four rows. Four summed gradients are tiny next to
   10,000, so this run uses learning rate 1 instead of 0.01.

Autograd's dJ/dW1, dJ/dW2 are compared with costFunctionPrime's at every
iteration.

Run: python examples/tutorial4_sum_and_or.py [--quick]
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tinygrad_nn import data, nn, optim

QUICK = "--quick" in sys.argv or os.environ.get("TINYGRAD_NN_QUICK") == "1"
ITERATIONS_SUM = 100 if QUICK else 1500
ITERATIONS_OR = 300 if QUICK else 5000
LEARNING_RATE = 0.01


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    return np.exp(-z) / (1.0 + np.exp(-z)) ** 2


def cost_function_prime(W1: np.ndarray, W2: np.ndarray, X: np.ndarray, y: np.ndarray):
    """The post's costFunctionPrime: (dJ/dW1, dJ/dW2) for J = ½ Σ (y - ŷ)²."""
    z2 = X @ W1
    a2 = sigmoid(z2)
    z3 = a2 @ W2
    y_hat = sigmoid(z3)
    delta3 = -(y - y_hat) * sigmoid_prime(z3)
    dJdW2 = a2.T @ delta3
    delta2 = (delta3 @ W2.T) * sigmoid_prime(z2)
    dJdW1 = X.T @ delta2
    return dJdW1, dJdW2


def fit(X: np.ndarray, y: np.ndarray, iterations: int, seed: int, lr: float = LEARNING_RATE):
    """Train a fresh 2-3-1 network; returns it and the largest autograd/by-hand disagreement."""

    def standard_normal(shape, rng, dtype):  # the post's np.random.randn
        return rng.standard_normal(shape).astype(dtype)

    rng = np.random.default_rng(seed)
    layer1 = nn.Dense(2, 3, bias=False, init=standard_normal, rng=rng)
    layer2 = nn.Dense(3, 1, bias=False, init=standard_normal, rng=rng)
    model = nn.Sequential(layer1, nn.Sigmoid(), layer2, nn.Sigmoid())
    opt = optim.SGD(model, lr=lr)
    worst = 0.0
    report = max(1, iterations // 5)
    for it in range(iterations):
        J = nn.sse_loss(model(X), y)  # ½ Σ (y - ŷ)²
        opt.zero_grad()
        J.backward()
        dJdW1, dJdW2 = cost_function_prime(
            np.asarray(layer1.weight.data), np.asarray(layer2.weight.data), X, y
        )
        diff = max(float(np.max(np.abs(layer1.weight.grad - dJdW1))),
                   float(np.max(np.abs(layer2.weight.grad - dJdW2))))  # fmt: skip
        worst = max(worst, diff)
        if it == 0:
            print(f"  first dJ/dW2  autograd {np.ravel(layer2.weight.grad)}")
            print(f"                by hand  {np.ravel(dJdW2)}")
        if it % report == 0 or it == iterations - 1:
            print(f"  iter {it:5d}  J = {J.item():12.4f}  max |autograd - by hand| = {diff:.1e}")
        opt.step()
    return model, worst


def main() -> None:
    np.set_printoptions(precision=6, linewidth=120)
    overall = 0.0

    print("1. learn to add: y = x0 + x1 on 10,000 points of [0, 1)^2")
    X, y = data.sum_data(10_000, high=1.0, rng=4)
    model, worst = fit(X, y, ITERATIONS_SUM, seed=4)
    overall = max(overall, worst)
    y_hat = model(X).data
    print(f"  targets above 1: {100 * np.mean(y > 1):.0f}%; largest prediction {y_hat.max():.4f}")
    print(f"  SSE / N = {np.sum((y - y_hat) ** 2) / len(y):.4f}")
    for row, target in zip(X[:3], y[:3, 0], strict=True):
        print(f"  {row[0]:.3f} + {row[1]:.3f} = {target:.3f}, predicted {model(row[None]).data[0, 0]:.3f}")

    print("\n2. the OR gate")
    X, labels = data.or_gate()
    y = labels[:, None].astype(float)
    model, worst = fit(X, y, ITERATIONS_OR, seed=0, lr=1.0)
    overall = max(overall, worst)
    for row, target, out in zip(X, labels, model(X).data[:, 0], strict=True):
        print(f"  {row[0]:.0f} OR {row[1]:.0f} = {target}, predicted {out:.3f}")
    print(f"\nmax |autograd - by hand| over all iterations of both runs: {overall:.2e}")


if __name__ == "__main__":
    main()
