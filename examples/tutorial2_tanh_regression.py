"""Tutorial 2: 3 inputs -> 2 tanh units (with biases) -> 1 linear output, on t = X · [2, -1, 5].

The small regression network of the classic δ-notation notes: three samples
of an "unknown function" t = 2 x0 - x1 + 5 x2, two tanh hidden units, a
linear output unit, the notes' starting weights (hidden rows [0.5, 0.5, 0.5]
and [0.1, 0.1, 0.1], all biases 1, output weights [1, 1]) and plain gradient
descent with learning rate 0.001 for 1000 iterations.

With E = ½ Σ_n (O_n - t_n)² and a linear output (g' = 1) the δ rules read

    δ_out = O - t                                (the output "error")
    δ_hid = (1 - tanh(z)²) · δ_out W_out          (tanh' in place of O(1 - O))
    ∂E/∂W = (inputs)ᵀ δ,   ∂E/∂θ = Σ_n δ

and that is what ``backprop_by_hand`` computes. Autograd's gradients are
compared with it at every iteration. The first forward pass reproduces the
notes' numbers exactly (predictions 2.984, 2.980, 2.976; mean squared error
238.12); after 1000 steps the predictions, about [5.55, 26.57, 9.73] for
targets [4, 29, 9], are close to the [5.55, 26.57, 9.74] the notes print.

Note on layouts: the notes store a layer's weights as (units, inputs) and
compute X @ Wᵀ; ``nn.Dense`` stores (inputs, units) and computes X @ W, so
its weight is the transpose of the notes' matrix.

Run: python examples/tutorial2_tanh_regression.py [--quick]
"""

from __future__ import annotations

import os
import sys

import numpy as np

from tinygrad_nn import data, nn, optim

QUICK = "--quick" in sys.argv or os.environ.get("TINYGRAD_NN_QUICK") == "1"
ITERATIONS = 100 if QUICK else 1000
LR = 0.001


def backprop_by_hand(W_hid, b_hid, W_out, b_out, X, t):
    """δ rules for tanh hidden units and a linear output; W_* in Dense's (inputs, units) layout."""
    z_hid = X @ W_hid + b_hid
    O_hid = np.tanh(z_hid)
    pred = O_hid @ W_out + b_out
    delta_out = pred - t
    delta_hid = (1 - np.tanh(z_hid) ** 2) * (delta_out @ W_out.T)
    return {
        "W_hid": X.T @ delta_hid,
        "b_hid": delta_hid.sum(axis=0),
        "W_out": O_hid.T @ delta_out,
        "b_out": delta_out.sum(axis=0),
    }


def main() -> None:
    np.set_printoptions(precision=8, linewidth=200)
    X = np.array([[4.0, 9.0, 1.0], [2.0, 5.0, 6.0], [1.0, 8.0, 3.0]])
    t = X @ data.LINEAR_WEIGHTS[:, None]  # [[4], [29], [9]]

    hidden = nn.Dense(3, 2)
    output = nn.Dense(2, 1)
    model = nn.Sequential(hidden, nn.Tanh(), output)
    # The notes' starting point, transposed into Dense's layout.
    hidden.weight.data = np.array([[0.5, 0.5, 0.5], [0.1, 0.1, 0.1]]).T.copy()
    hidden.bias.data = np.array([1.0, 1.0])
    output.weight.data = np.array([[1.0, 1.0]]).T.copy()
    output.bias.data = np.array([1.0])
    params = {"W_hid": hidden.weight, "b_hid": hidden.bias, "W_out": output.weight, "b_out": output.bias}
    opt = optim.SGD(model, lr=LR)

    pred = model(X)
    print(f"targets {t.ravel()}, first predictions {pred.data.ravel()}")
    print(f"first mean squared error {float(np.mean((t - pred.data) ** 2)):.9g}")

    worst = 0.0
    for it in range(ITERATIONS):
        pred = model(X)
        E = nn.sse_loss(pred, t)  # ½ Σ (O - t)²
        opt.zero_grad()
        E.backward()
        hand = backprop_by_hand(*(np.asarray(p.data) for p in params.values()), X, t)
        diff = max(float(np.max(np.abs(params[k].grad - hand[k]))) for k in params)
        worst = max(worst, diff)
        if it == 0:
            print("\ngradients of the first iteration:")
            for k, p in params.items():
                print(f"  {k:5s} autograd {np.ravel(p.grad)}\n        by hand  {np.ravel(hand[k])}")
            print()
        if (it + 1) % (ITERATIONS // 5) == 0:
            print(f"iter {it + 1:4d}  E = {E.item():10.4f}  max |autograd - by hand| = {diff:.1e}")
        opt.step()

    pred = model(X).data.ravel()
    print(f"\nafter {ITERATIONS} iterations: predictions {pred} for targets {t.ravel()}")
    print(f"max |autograd - by hand| over all iterations: {worst:.2e}")


if __name__ == "__main__":
    main()
