"""Function against torch.autograd.Function: the same forward and backward, the same numbers.

Each custom op is written twice, once per framework, with the same formulas;
values and gradients must agree to 1e-12 in float64, first and second order.
Skipped where torch is not installed (CI installs the CPU wheel for these).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tinygrad_nn import Context, Function, Value, autograd

torch = pytest.importorskip("torch")

RTOL = 1e-12


class Swish(Function):
    @staticmethod
    def forward(ctx: Context, x: Any, beta: float = 1.0) -> Any:
        s = 1 / (1 + np.exp(-beta * x))
        ctx.save_for_backward(x, s)
        ctx.beta = beta
        return x * s

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, s = ctx.saved_tensors
        return g * (s + ctx.beta * x * s * (1 - s))


class TorchSwish(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Any, beta: float = 1.0) -> Any:
        s = 1 / (1 + torch.exp(-beta * x))
        ctx.save_for_backward(x, s)
        ctx.beta = beta
        return x * s

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, s = ctx.saved_tensors
        return g * (s + ctx.beta * x * s * (1 - s)), None


class Affine(Function):
    """x * w + b with w and b broadcast over x's rows."""

    @staticmethod
    def forward(ctx: Context, x: Any, w: Any, b: Any) -> Any:
        ctx.save_for_backward(x, w)
        return x * w + b

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        x, w = ctx.saved_tensors
        return g * w, g * x, g  # the engine sums w's and b's over the rows


class TorchAffine(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Any, w: Any, b: Any) -> Any:
        ctx.save_for_backward(x, w)
        return x * w + b

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        x, w = ctx.saved_tensors
        return g * w, (g * x).sum(0), g.sum(0)  # torch wants each input's shape


class SoftmaxCrossEntropy(Function):
    """Mean cross entropy of logits (N, C) against one-hot targets, the classic assignment."""

    @staticmethod
    def forward(ctx: Context, z: Any, t: Any) -> Any:
        shifted = z - z.max(axis=1, keepdims=True)
        p = np.exp(shifted)
        p /= p.sum(axis=1, keepdims=True)
        ctx.save_for_backward(p, t)
        return float(-(t * np.log(p)).sum() / z.shape[0])

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        p, t = ctx.saved_tensors
        return g * (p - t) / p.shape[0], None


class TorchSoftmaxCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, z: Any, t: Any) -> Any:
        shifted = z - z.max(dim=1, keepdim=True).values
        p = torch.exp(shifted)
        p = p / p.sum(dim=1, keepdim=True)
        ctx.save_for_backward(p, t)
        return -(t * torch.log(p)).sum() / z.shape[0]

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        p, t = ctx.saved_tensors
        return g * (p - t) / p.shape[0], None


class Cube(Function):
    differentiable_backward = True

    @staticmethod
    def forward(ctx: Context, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Context, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


class TorchCube(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


def _t(x: np.ndarray) -> Any:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def _close(ours: Any, theirs: Any) -> None:
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), rtol=RTOL, atol=1e-300)


def test_swish():
    x = np.random.default_rng(0).normal(scale=3.0, size=(4, 5))
    v, tx = Value(x), _t(x)
    y, ty = Swish.apply(v, beta=1.7), TorchSwish.apply(tx, 1.7)
    _close(y.data, ty)
    g = np.random.default_rng(1).normal(size=(4, 5))
    y.backward(g)
    ty.backward(torch.tensor(g))
    _close(v.grad, tx.grad)


def test_three_inputs_with_broadcasting():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(6, 3)), rng.normal(size=3), rng.normal(size=3)
    vs, ts = [Value(a) for a in (x, w, b)], [_t(a) for a in (x, w, b)]
    y, ty = Affine.apply(*vs), TorchAffine.apply(*ts)
    _close(y.data, ty)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for v, t in zip(vs, ts, strict=True):
        _close(v.grad, t.grad)


def test_softmax_cross_entropy_with_a_constant_target():
    rng = np.random.default_rng(3)
    z, t = rng.normal(scale=4.0, size=(8, 5)), np.eye(5)[rng.integers(0, 5, size=8)]
    v, tz = Value(z), _t(z)
    loss, tloss = SoftmaxCrossEntropy.apply(v, t), TorchSoftmaxCrossEntropy.apply(tz, torch.tensor(t))
    _close(loss.data, tloss)
    loss.backward()
    tloss.backward()
    _close(v.grad, tz.grad)


def test_second_order_through_a_differentiable_backward():
    x = np.random.default_rng(4).normal(size=5)
    v, tx = Value(x), _t(x)
    (g,) = autograd.grad(Cube.apply(v).sum(), [v], create_graph=True)
    (tg,) = torch.autograd.grad(TorchCube.apply(tx).sum(), [tx], create_graph=True)
    _close(g.data, tg)
    (h,) = autograd.grad((g * g).sum(), [v])
    (th,) = torch.autograd.grad((tg * tg).sum(), [tx])
    _close(h, th)
