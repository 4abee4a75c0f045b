"""Second derivatives at work: Newton's method and the curvature of a loss.

1. Logistic regression on two Gaussian blobs, fitted by Newton's method:
   θ ← θ − H⁻¹ ∇E, with the Hessian H from ``hessian`` (double backprop).
   It converges in a handful of steps where gradient descent needs hundreds.
2. The curvature of a small network's loss along its gradient direction,
   gᵀHg / gᵀg, from a Hessian-vector product that never forms H.

Run: python examples/newton_second_order.py
"""

import numpy as np

from tinygrad_nn import Value, grad, hessian, hvp, nn

rng = np.random.default_rng(0)
X = np.concatenate([rng.normal(-1.0, 1.0, (100, 2)), rng.normal(1.0, 1.0, (100, 2))])
y = np.concatenate([np.zeros(100), np.ones(100)])
Xb = np.hstack([X, np.ones((200, 1))])  # a bias column: θ = (w1, w2, b)


def loss(theta: Value) -> Value:
    """Mean logistic loss plus a small L2 term (keeps H positive definite)."""
    nll = nn.binary_cross_entropy_with_logits(Xb @ theta, y)
    return nll + 0.01 * (theta * theta).sum()


theta = np.zeros(3)
print("Newton's method")
for step in range(6):
    g = grad(loss)(theta).data
    H = hessian(loss)(theta).data
    theta = theta - np.linalg.solve(H, g)
    print(f"  step {step}: loss = {loss(Value(theta)).item():.10f}   |grad| = {np.linalg.norm(g):.2e}")

best = loss(Value(theta)).item()
theta_gd = np.zeros(3)
steps = 0
while loss(Value(theta_gd)).item() - best > 1e-9 and steps < 5000:
    theta_gd -= 0.5 * grad(loss)(theta_gd).data
    steps += 1
print(f"gradient descent (lr 0.5) needs {steps} steps to come within 1e-9 of Newton's 6-step loss")

# Curvature along the gradient of a 2-3-1 tanh network's squared error,
# as a function of its 13 parameters flattened into one vector.
W = rng.normal(0, 1, 13)


def net_loss(params: Value) -> Value:
    W1, b1 = params[0:6].reshape(2, 3), params[6:9]
    W2, b2 = params[9:12].reshape(3, 1), params[12:13]
    out = (X @ W1 + b1).tanh() @ W2 + b2
    return nn.sse_loss(out, y[:, None], reduction="mean")


g = grad(net_loss)(W).data
Hg = hvp(net_loss, W, g).data
H = hessian(net_loss)(W).data
print()
print(f"curvature along the gradient, gᵀHg/gᵀg = {g @ Hg / (g @ g):.6f}")
print(f"max |hvp - H @ g| = {np.abs(Hg - H @ g).max():.2e}  (hvp never forms H)")
