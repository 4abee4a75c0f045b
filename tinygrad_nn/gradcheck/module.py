"""gradcheck_module: ∂E/∂θ of every parameter of a model against finite differences."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..value import Value
from .check import Method, _check_options, _fd_loop, _output_data
from .module_loss import _bind, _ModuleLoss
from .report import GradcheckReport, _compare, _finish

__all__ = ["gradcheck_module"]

# A batched parameter costs a probe (two single evaluations and a batch of
# three): below this many perturbed copies the loop is cheaper. 0-d and
# one-element parameters (a scalar-Value MLP has only those) are looped.
_MIN_BATCH_COPIES = 4


def gradcheck_module(
    model: Any,
    loss_fn: Callable[[Any, Any], Value],
    x: Any,
    t: Any,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    method: Method = "central",
    raise_exception: bool = True,
    vectorized: bool | None = None,
) -> GradcheckReport:
    """Check ∂E/∂θ for every parameter θ of ``model``, with E = ``loss_fn(model(x), t)``.

    E must be a single-element Value. During the check each parameter that
    requires grad has its ``.data`` swapped for a float64 working copy;
    afterwards, even if the model or the loss raises, every parameter gets
    back its original data object (untouched, whatever its dtype) and its
    original ``.grad``. Report entries are named as in
    ``model.named_parameters()``. Options as in :func:`gradcheck`.

    **Vectorized perturbations.** A parameter θ of shape S is perturbed in
    batches: its data becomes a stack of n perturbed copies, shape (n, 1, …,
    1, *S) with as many 1s as the model's output has more axes than S (a
    Dense weight (n, in, out), its bias (n, 1, out)), and the model's input
    gets a leading batch axis too (a read-only view), so ``model`` returns
    (n, *output shape) in one call. E of copy r is then
    ``loss_fn(output[r], t)``, run with θ set to copy r (a loss may read
    the parameters): n loss calls instead of n forward passes. For
    ``nn.sse_loss`` and ``nn.mse_loss`` themselves the n losses are
    computed together, with the loss's own formula (scale · Σ (O − t)²). For
    a plain :class:`~tinygrad_nn.nn.Sequential` only the layers from the
    first one holding θ run on the batch; the output of those before it is
    computed once. Batches are kept small enough to stay in cache.

    ``vectorized=None`` (default) decides per parameter: parameters with
    fewer than 4 perturbed copies (0-d ones, say, and so every parameter of
    a scalar-Value MLP) are looped; the others are batched if a probe
    agrees: the first batch also holds three distinct copies θ, θ′, θ″ far
    apart (0.5-1%), whose E must match f(θ) and two single evaluations to
    1e-9. Else, or if a later batch fails, the parameter is looped, one
    element and forward pass at a time. The differences then agree with the
    loop's to round-off (on common BLAS builds, bit for bit).
    ``vectorized=True`` batches every parameter without a probe (a model
    that does not batch is then an error), ``False`` always loops.
    ``report[name].vectorized`` says which way each parameter went.
    """
    _check_options("gradcheck_module", eps, atol, rtol, method, "full")
    if not callable(loss_fn):
        raise TypeError(f"gradcheck_module: loss_fn must be callable, got {type(loss_fn).__name__}")
    if vectorized not in (None, True, False):
        raise ValueError(f"gradcheck_module: vectorized must be None, True or False, got {vectorized!r}")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError(f"gradcheck_module: {type(model).__name__} has no parameter that requires grad")

    # Only the parameters are checked: Value inputs and targets are used as
    # constants, so their .grad is left alone.
    x = x.detach() if isinstance(x, Value) else x
    t = t.detach() if isinstance(t, Value) else t
    evaluator = _ModuleLoss(model, loss_fn, x, t)
    sides = 2 if method == "central" else 1
    saved = [(p, p.data, p.grad) for _, p in named]
    work = [np.array(p.data, dtype=np.float64) for _, p in named]
    try:
        for (_, p), w in zip(named, work, strict=True):
            p.data = _bind(w)
            p.grad = None
        out = model(x)
        e = evaluator.loss_of(out)
        f0 = _output_data(e, "gradcheck_module")
        evaluator.out_type = type(out).__name__
        if isinstance(out, Value):
            evaluator.out_shape = out.shape
        if e.requires_grad:
            e.backward()
        del out, e  # the graph is not needed any more
        checks = []
        for (name, p), w in zip(named, work, strict=True):
            grad = np.zeros(w.shape) if p.grad is None else np.asarray(p.grad, dtype=np.float64)
            numeric = None
            if vectorized or (vectorized is None and w.size * sides >= _MIN_BATCH_COPIES):
                numeric = evaluator.batched_differences(name, p, w, f0, eps, method, vectorized)
            batched = numeric is not None
            if numeric is None:

                def evaluate(p: Any = p, w: np.ndarray = w) -> np.ndarray:
                    if w.ndim == 0:  # the float in .data is a copy: refresh it from w
                        p.data = float(w)
                    return evaluator.single()

                try:
                    numeric = _fd_loop(w, evaluate, f0, eps, method)
                finally:
                    p.data = _bind(w)  # a 0-d one would keep its last perturbed value
            checks.append(_compare(name, grad.reshape(1, -1), numeric, (), w.shape, atol, rtol, batched))
    finally:
        for p, data, grad in saved:
            p.data = data
            p.grad = grad
    return _finish(checks, method, eps, atol, rtol, (), "full", raise_exception, entry="parameter")
