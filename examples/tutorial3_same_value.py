"""Tutorial 3: the "same value" classifier, 2 inputs -> p sigmoid -> 1 sigmoid, no biases.

The network of the classic post that goes from perceptrons to a first
feed-forward network: output 1 when the two inputs of a sample are the same
value, else 0 (here on the four binary pairs: 00 and 11 -> 1, 01 and 10 -> 0).
There are no biases, only two weight matrices, the post's ``syn0`` (inputs to
hidden, n x p) and ``syn1`` (hidden to output, p x 1), trained by batch
gradient descent on L = ½ Σ_i (o_i - y_i)².

The post's matrix-form updates, with ⊙ the elementwise product:

    grad1 = Hᵀ · ((O - Y) ⊙ O ⊙ (1 - O))                       (p x 1)
    grad0 = Sᵀ · (((O - Y) ⊙ O ⊙ (1 - O)) · syn1ᵀ ⊙ H ⊙ (1 - H))  (n x p)
    syn1 ← syn1 - alpha · grad1,   syn0 ← syn0 - alpha · grad0

are the δ rules in batch form: (O - Y) ⊙ O ⊙ (1 - O) is δ_k for every
sample, and the second bracket is δ_j. ``syn0`` and ``syn1`` here are the
weights of two bias-free ``nn.Dense`` layers, whose (inputs, units) layout is
the post's.

The post closes on vanishing gradients: every sigmoid layer multiplies the
backward signal by h (1 - h) <= 0.25. The script prints the size of each
layer's gradient to show the drop.

Run: python examples/tutorial3_same_value.py [--quick]
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tinygrad_nn import nn, optim

QUICK = "--quick" in sys.argv or os.environ.get("TINYGRAD_NN_QUICK") == "1"
ITERATIONS = 300 if QUICK else 5000
ALPHA = 1.0
P = 4  # hidden units


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def gradients_by_hand(syn0: np.ndarray, syn1: np.ndarray, S: np.ndarray, Y: np.ndarray):
    """The post's grad0 and grad1 (matrix form of the δ rules)."""
    H = sigmoid(S @ syn0)
    out = sigmoid(H @ syn1)
    delta_out = (out - Y) * out * (1 - out)
    grad1 = H.T @ delta_out
    grad0 = S.T @ ((delta_out @ syn1.T) * H * (1 - H))
    return grad0, grad1


def main() -> None:
    np.set_printoptions(precision=6, linewidth=200)
    S = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    Y = np.array([[1.0], [0.0], [0.0], [1.0]])  # 1 when both inputs are the same value

    def uniform(shape, rng, dtype):  # the post's 2 * random - 1
        return rng.uniform(-1.0, 1.0, shape).astype(dtype)

    rng = np.random.default_rng(1)
    layer0 = nn.Dense(2, P, bias=False, init=uniform, rng=rng)
    layer1 = nn.Dense(P, 1, bias=False, init=uniform, rng=rng)
    model = nn.Sequential(layer0, nn.Sigmoid(), layer1, nn.Sigmoid())
    syn0, syn1 = layer0.weight, layer1.weight
    opt = optim.SGD(model, lr=ALPHA)

    print(f"2 -> {P} sigmoid -> 1 sigmoid, no biases; batch gradient descent, alpha = {ALPHA}")
    worst = 0.0
    for it in range(ITERATIONS):
        out = model(S)
        L = nn.sse_loss(out, Y)  # ½ Σ (o - y)²
        opt.zero_grad()
        L.backward()
        grad0, grad1 = gradients_by_hand(np.asarray(syn0.data), np.asarray(syn1.data), S, Y)
        diff = max(float(np.max(np.abs(syn0.grad - grad0))), float(np.max(np.abs(syn1.grad - grad1))))
        worst = max(worst, diff)
        if it == 0:
            print("gradients of the first iteration:")
            print(f"  ∂L/∂syn1 autograd {syn1.grad.ravel()}\n           by hand  {grad1.ravel()}")
            print(f"  ∂L/∂syn0 autograd {syn0.grad.ravel()}\n           by hand  {grad0.ravel()}")
        if it % (ITERATIONS // 5) == 0 or it == ITERATIONS - 1:
            g0, g1 = np.abs(syn0.grad).mean(), np.abs(syn1.grad).mean()
            print(
                f"iter {it:5d}  L = {L.item():.5f}  mean |∂L/∂syn1| = {g1:.2e}  mean |∂L/∂syn0| = {g0:.2e}"
                f"  max |autograd - by hand| = {diff:.1e}"
            )
        opt.step()

    final = model(S).data
    print("\nsample  target  output")
    for s, t, o in zip(S, Y.ravel(), final.ravel(), strict=True):
        print(f"{s.astype(int)}   {t:.0f}     {o:.3f}")
    correct = int(np.sum((final > 0.5) == (Y > 0.5)))
    print(f"{correct}/4 correct; max |autograd - by hand| over all {ITERATIONS} iterations: {worst:.2e}")


if __name__ == "__main__":
    main()
