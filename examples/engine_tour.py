"""A tour of the Value engine: train a 2-3-1 sigmoid network on XOR by hand-written
SGD, and show that the gradient autograd leaves on each pre-activation is the δ
of the classic backprop derivation.

Run: python examples/engine_tour.py
"""

import numpy as np

from tinygrad_nn import Value, no_grad

rng = np.random.default_rng(0)
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
T = np.array([[0.0], [1.0], [1.0], [0.0]])

W1, b1 = Value(rng.normal(0, 1, (2, 3))), Value(np.zeros(3))
W2, b2 = Value(rng.normal(0, 1, (3, 1))), Value(np.zeros(1))
params = [W1, b1, W2, b2]



def forward_backward():
    """One forward pass and backward pass; returns the Values a learner inspects."""
    z_j = X @ W1 + b1  # hidden pre-activation
    O_j = z_j.sigmoid()
    z_k = O_j @ W2 + b2  # output pre-activation
    O_k = z_k.sigmoid()
    E = 0.5 * ((O_k - T) ** 2).sum()  # E = ½ Σ (O_k − t_k)²
    for p in params:
        p.grad = None
    E.backward()
    return E, z_j, O_j, z_k, O_k


eta = 2.0
for epoch in range(3001):
    E, *_ = forward_backward()
    with no_grad():
        for p in params:
            p.data -= eta * p.grad
    if epoch % 500 == 0:
        print(f"epoch {epoch:5d}   E = {E.item():.6f}")

# The classic formulas, by hand, next to what autograd left on the pre-activations:
E, z_j, O_j, z_k, O_k = forward_backward()
Ok, Oj = O_k.data, O_j.data
delta_k = (Ok - T) * Ok * (1 - Ok)  # δ_k = (O_k − t_k) O_k (1 − O_k)
delta_j = Oj * (1 - Oj) * (delta_k @ W2.data.T)  # δ_j = O_j (1 − O_j) Σ_k δ_k W_jk
print()
print("max |z_k.grad - δ_k| =", np.abs(z_k.grad - delta_k).max())
print("max |z_j.grad - δ_j| =", np.abs(z_j.grad - delta_j).max())
print("predictions:", np.round(Ok.ravel(), 3), "targets:", T.ravel())
