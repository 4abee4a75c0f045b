"""Optimizers against PyTorch, step by step (skipped when torch is not installed).

The update rules are meant to be PyTorch's exactly, so the same parameters
and gradients must give the same parameters after every step.
"""

import numpy as np
import pytest

from tinygrad_nn import Value, optim

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
