"""Optimizers against PyTorch, step by step (skipped when torch is not installed).

The update rules are meant to be PyTorch's exactly, so the same parameters
and gradients must give the same parameters after every step.
"""

import numpy as np
import pytest

from tinygrad_nn import Value, nn, optim

torch = pytest.importorskip("torch")

CONFIGS = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.1, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.003, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
]


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_pytorch_step_by_step(name, kwargs):
    rng = np.random.default_rng(0)
    start = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    ours = [Value(p) for p in start]
    theirs = [torch.tensor(p, requires_grad=True) for p in start]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(6):
        grads = [rng.standard_normal(p.shape) for p in start]
        for p, tp, g in zip(ours, theirs, grads, strict=True):
            p.grad = g.copy()
            tp.grad = torch.tensor(g)
        opt.step()
        topt.step()
        for p, tp in zip(ours, theirs, strict=True):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_binary_cross_entropy_matches_pytorch_even_when_saturated():
    p0 = np.array([0.0, 1.0, 0.3, 0.999, 1e-50, 0.5])
    t0 = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.5])
    p = Value(p0)
    loss = nn.binary_cross_entropy(p, t0, reduction="sum")
    loss.backward()
    tp = torch.tensor(p0, requires_grad=True)
    tl = torch.nn.functional.binary_cross_entropy(tp, torch.tensor(t0), reduction="sum")
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-12)
    # PyTorch keeps its 1e-12 floor as a C float (9.99999996e-13): saturated entries differ by 4e-9.
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-8)
