"""gradcheck and gradcheck_module: they pass on correct gradients, catch wrong ones, and say where."""

import importlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn
from tinygrad_nn import Value, nn, stack
from tinygrad_nn.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_module
from tinygrad_nn.ops import Op
from tinygrad_nn.testing import arrays, shapes
from tinygrad_nn.value import apply

# The package exports the function gradcheck, which hides the subpackage of the same name;
# the batch-size limits live in its submodules.
batched = importlib.import_module("tinygrad_nn.gradcheck.batched")
module_loss = importlib.import_module("tinygrad_nn.gradcheck.module_loss")
rng = np.random.default_rng(0)


def test_package_exports():
    assert tinygrad_nn.gradcheck is gradcheck and tinygrad_nn.gradcheck_module is gradcheck_module
    assert tinygrad_nn.GradcheckError is GradcheckError and issubclass(GradcheckError, AssertionError)
    assert {"gradcheck", "gradcheck_module", "GradcheckError", "backprop"} <= set(tinygrad_nn.__all__)
    package = importlib.import_module("tinygrad_nn.gradcheck")
    assert package.gradcheck is gradcheck and package.GradcheckReport is GradcheckReport
    assert all(hasattr(package, name) for name in package.__all__)


# An op with a deliberately wrong derivative: f(x) = x², f'(x) claimed 2x,
# plus 1 wherever x > 2. Only those elements should be flagged.
BAD_SQUARE = Op("bad_square", lambda x: x * x, [lambda g, out, x: g * (2 * x + (np.asarray(x) > 2))])


def bad_square(v: Value) -> Value:
    return apply(BAD_SQUARE, v)


# -- passing checks ---------------------------------------------------------------


def test_scalar_output_passes_and_reports_per_input():
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    report = gradcheck(lambda x, w: ((x @ w).tanh() ** 2).sum(), [x, w])
    assert report and report.passed and isinstance(report, GradcheckReport)
    assert [c.name for c in report] == ["inputs[0]", "inputs[1]"]
    assert report["inputs[1]"].shape == (4, 2) and report[1].analytic.shape == (4, 2)
    assert report.max_abs_error < 1e-8 and report.max_rel_error < 1e-6
    np.testing.assert_allclose(report[0].analytic, report[0].numeric, rtol=1e-6, atol=1e-9)


def test_full_jacobian_of_a_matrix_output():
    x = rng.standard_normal((2, 3))
    report = gradcheck(lambda x: x.softmax(axis=1), [x])
    assert report.output_shape == (2, 3)
    jac = report[0].analytic
    assert jac.shape == (2, 3, 2, 3)  # output shape + input shape
    assert np.allclose(jac[0, :, 1, :], 0)  # rows of a row-wise softmax do not interact
    s = np.exp(x[0]) / np.exp(x[0]).sum()
    np.testing.assert_allclose(jac[0, :, 0, :], np.diag(s) - np.outer(s, s), atol=1e-12)


def test_random_projection_checks_one_vector_jacobian_product():
    x = rng.standard_normal(5)
    report = gradcheck(lambda x: x.sigmoid() * x, [x], jacobian="random")
    assert report and report.jacobian == "random" and report[0].analytic.shape == (5,)


def test_forward_differences_pass_but_are_less_accurate_than_central():
    x = rng.uniform(0.5, 2.0, size=6)
    fn = lambda x: x.exp().sum()
    central = gradcheck(fn, [x], method="central")
    forward = gradcheck(fn, [x], method="forward")
    assert central and forward and forward.method == "forward"
    assert central.max_abs_error < forward.max_abs_error / 100  # O(ε²) versus O(ε)


def test_inputs_are_copied_and_float32_is_checked_in_float64():
    v = Value(np.array([0.5, -1.5], dtype=np.float32))
    const = Value(np.array([2.0, 3.0]), requires_grad=False)
    report = gradcheck(lambda a, c: (a * a * c).sum(), [v, const], atol=1e-9, rtol=1e-7)
    # float32 arithmetic could not reach 1e-7: the check ran on float64 copies.
    assert report and len(report) == 1 and report[0].name == "inputs[0]"
    assert report[0].analytic.dtype == np.float64
    assert v.grad is None and const.grad is None and v.dtype == np.float32


def test_single_input_and_scalar_inputs():
    assert gradcheck(lambda x: (x * x).sum(), np.arange(3.0))
    report = gradcheck(lambda a, b: a * b.exp(), [2.0, Value(0.5)])
    assert report and report[0].shape == () and report[1].worst_index == ()


def test_second_derivatives_through_the_grad_transform():
    # Finite differences call fn outside no_grad, so fn may differentiate internally.
    x = np.array([0.5, -1.0, 2.0])
    report = gradcheck(lambda v: tinygrad_nn.grad(lambda y: (y**3).sum())(v), [x])
    np.testing.assert_allclose(report[0].analytic, np.diag(6 * x), atol=1e-12)


# -- failing checks -----------------------------------------------------------------


def test_detached_factor_is_caught_with_the_worst_element():
    x = np.array([0.5, -3.0, 1.0, 2.0])
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: (x * x.detach()).sum(), [x])
    report = info.value.report
    assert not report and report.failures == [report[0]]
    check = report[0]
    # autograd says x, the truth is 2x: the error |x| is largest at |x| = 3.
    assert check.worst_index == (1,)
    assert check.worst_analytic == pytest.approx(-3.0) and check.worst_numeric == pytest.approx(-6.0)
    assert check.max_abs_error == pytest.approx(3.0, rel=1e-6) and check.num_failed == 4
    assert "FAILED" in str(info.value) and "(1,)" in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_raise_exception_false_returns_a_falsy_report():
    report = gradcheck(lambda x: (x * x.detach()).sum(), [np.ones(2)], raise_exception=False)
    assert not report and not report.passed and "NO" in str(report)


def test_a_wrong_rule_on_one_element_is_localized():
    x = np.array([[0.1, 1.0], [2.5, -1.0]])
    report = gradcheck(lambda x: bad_square(x).sum(), [x], raise_exception=False)
    assert report[0].num_failed == 1 and report[0].worst_index == (1, 0)
    assert report[0].worst_analytic == pytest.approx(6.0) and report[0].worst_numeric == pytest.approx(5.0)


def test_wrong_jacobian_entry_names_output_and_input():
    def fn(x: Value) -> Value:
        return stack([x[0] * x[1], x[1] * x[2].detach()])

    report = gradcheck(fn, [np.array([1.0, 2.0, 3.0])], raise_exception=False)
    assert report[0].worst_output_index == (1,) and report[0].worst_index == (2,)
    assert report[0].worst_analytic == 0.0 and report[0].worst_numeric == pytest.approx(2.0)
    assert "of output (1,)" in str(report)
    # The random projection catches it too.
    assert not gradcheck(fn, [np.array([1.0, 2.0, 3.0])], jacobian="random", raise_exception=False)


def test_output_cut_off_from_the_inputs_fails_cleanly():
    report = gradcheck(lambda x: x.detach().sum(), [np.ones(3)], raise_exception=False)
    assert not report and np.all(report[0].analytic == 0) and np.allclose(report[0].numeric, 1)


def test_nan_never_passes():
    report = gradcheck(lambda x: (x * np.array([1.0, np.nan])).sum(), [np.ones(2)], raise_exception=False)
    assert not report and report[0].max_abs_error == np.inf and report[0].num_failed == 2


@given(arrays(shapes(max_dims=2), min_value=-2, max_value=2))
def test_detached_factor_is_always_caught(x):
    if np.max(np.abs(x), initial=0.0) < 0.1:  # the error |x| must clear atol
        return
    report = gradcheck(lambda v: (v * v.detach()).sum(), [x], raise_exception=False)
    assert not report
    # The largest |x| (up to round-off: FD of x = 2 - 2⁻⁵² gives 4.0, making 2 - 2⁻⁵² the worst).
    assert abs(x[report[0].worst_index]) == pytest.approx(np.max(np.abs(x)), rel=1e-12)


# -- vectorized perturbations -----------------------------------------------------------


class Counting:
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def test_batchable_functions_are_called_in_batches():
    fn = Counting(lambda x, w: (x @ w).tanh().sum(-1).sum(-1))
    report = gradcheck(fn, [rng.standard_normal((4, 3)), rng.standard_normal((3, 5))])
    assert report and all(c.vectorized for c in report)
    # 1 autograd call + per input: probe (1 batched + 2 single) + 1 batched call.
    assert fn.calls == 1 + 2 * 4
    looped = gradcheck(fn.fn, [report[0].analytic * 0 + 1, np.ones((3, 5))], vectorized=False)
    assert not any(c.vectorized for c in looped)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x - x.mean(),  # mixes the rows of a batch
        lambda x: (x * x).sum(),  # a batch would give a scalar
        lambda x: x / x.max(),
    ],
)
def test_functions_that_mix_a_batch_fall_back_to_the_loop(fn):
    report = gradcheck(fn, [np.array([1.0, -2.0, 3.5])])
    assert report and not report[0].vectorized


def test_batched_and_looped_differences_agree():
    x, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    fn = lambda x, b: ((x + b).sigmoid() * x).sum(-1)
    fast = gradcheck(fn, [x, b])
    slow = gradcheck(fn, [x, b], vectorized=False)
    assert [c.vectorized for c in fast] == [True, False]  # b + batch would not broadcast per row
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_allclose(f.numeric, s.numeric, rtol=1e-9, atol=1e-12)


def test_batches_are_split_into_chunks(monkeypatch):
    monkeypatch.setattr(batched, "_MAX_BATCH_ELEMENTS", 20)
    x = rng.standard_normal((3, 3))
    fn = Counting(lambda x: (x.tanh() * x).sum(-1))
    report = gradcheck(fn, [x], vectorized=True)
    assert report and report[0].vectorized
    assert fn.calls == 1 + 9  # 2 rows of 9 elements per chunk: one perturbed element per call
    np.testing.assert_allclose(report[0].numeric, gradcheck(fn.fn, [x], vectorized=False)[0].numeric)


def test_batches_hold_a_bounded_number_of_copies(monkeypatch):
    monkeypatch.setattr(batched, "_MAX_BATCH_ROWS", 4)
    x = rng.standard_normal(6)
    fn = Counting(lambda x: (x.tanh() * x).sum(-1))
    report = gradcheck(fn, [x], vectorized=True)
    assert report and report[0].vectorized
    assert fn.calls == 1 + 3  # 2 perturbed elements (4 rows) per call
    np.testing.assert_allclose(report[0].numeric, gradcheck(fn.fn, [x], vectorized=False)[0].numeric)


def test_vectorized_true_on_an_unbatchable_function_is_an_error():
    with pytest.raises(ValueError, match=r"vectorized=True.*shape \(6,\)"):
        gradcheck(lambda x: (x * x).sum(), [np.ones(3)], vectorized=True)


# -- bad arguments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"eps": 0.0}, "eps must be a positive"),
        ({"eps": -1e-6}, "eps must be a positive"),
        ({"eps": float("nan")}, "eps must be a positive"),
        ({"atol": -1.0}, "atol must be"),
        ({"rtol": float("inf")}, "rtol must be"),
        ({"method": "backward"}, "method must be 'central' or 'forward'"),
        ({"jacobian": "some"}, "jacobian must be"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gradcheck(lambda x: x.sum(), [np.ones(2)], **kwargs)


def test_bad_inputs_and_functions():
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a Value or a numeric array, got str"):
        gradcheck(lambda a, b: a, [np.ones(2), "x"])
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda a: a, [Value(1.0, requires_grad=False)])
    with pytest.raises(TypeError, match="must return a Value, got float"):
        gradcheck(lambda a: 1.0, [np.ones(2)])
    with pytest.raises(TypeError, match="fn must be callable"):
        gradcheck(3, [np.ones(2)])  # type: ignore[arg-type]


def test_report_lookup_and_text():
    report = gradcheck(lambda a, b: (a * b).sum(), [np.ones(2), np.ones(2)])
    with pytest.raises(KeyError, match="no input named 'w'"):
        report["w"]
    text = str(report)
    for word in ("gradcheck passed", "max abs err", "max rel err", "worst element", "inputs[1]"):
        assert word in text
    assert "passed" in repr(report)


# -- gradcheck_module (with a hand-made module: no dependency on nn) -------------------------


class Affine:
    """A minimal module: tanh(x @ w + b) with a scalar b."""

    def __init__(self, w, b):
        self.w, self.b = Value(w), Value(b)

    def named_parameters(self):
        yield "w", self.w
        yield "b", self.b

    def __call__(self, x):
        return (x @ self.w + self.b).tanh()


def sse(out, t):
    return 0.5 * ((out - t) ** 2).sum()


def test_gradcheck_module_passes_and_names_parameters():
    model = Affine(rng.standard_normal((3, 2)), 0.3)
    report = gradcheck_module(model, sse, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)))
    assert report and [c.name for c in report] == ["w", "b"]
    assert report["b"].shape == () and report["w"].analytic.shape == (3, 2)


def test_gradcheck_module_restores_data_and_grads():
    w = rng.standard_normal((3, 2)).astype(np.float32)
    model = Affine(w, 0.25)
    data, b_data, sentinel = model.w.data, model.b.data, np.full((3, 2), 7.0, dtype=np.float32)
    model.w.grad = sentinel
    report = gradcheck_module(model, sse, rng.standard_normal((4, 3)), np.zeros((4, 2)), atol=1e-9, rtol=1e-7)
    assert report  # float32 weights were checked in float64
    assert model.w.data is data and model.w.data.dtype == np.float32 and np.array_equal(data, w)
    assert type(model.b.data) is float and model.b.data == b_data == 0.25
    assert model.w.grad is sentinel and model.b.grad is None


@pytest.mark.parametrize("vectorized", [None, True, False])
def test_gradcheck_module_restores_even_when_the_loss_raises(vectorized):
    model = Affine(rng.standard_normal((3, 2)), 0.5)
    data, before = model.w.data, model.w.data.copy()
    calls = []

    def flaky(out, t):  # fails from its 5th call on: inside the first parameter's check
        calls.append(1)
        if len(calls) >= 5:
            raise RuntimeError("boom")
        return sse(out, t)

    with pytest.raises(RuntimeError, match="boom"):
        gradcheck_module(model, flaky, np.ones((2, 3)), np.zeros((2, 2)), vectorized=vectorized)
    assert model.w.data is data and np.array_equal(data, before)
    assert type(model.b.data) is float and model.b.data == 0.5
    assert model.w.grad is None and model.b.grad is None


def test_gradcheck_module_catches_a_wrong_layer():
    class Bad(Affine):
        def __call__(self, x):
            return bad_square(x @ self.w + self.b)

    model = Bad(np.array([[1.0], [2.0]]), 0.0)
    x = np.array([[1.0, 1.0], [0.1, 0.1]])  # z = 3 (wrong rule) and 0.3 (right)
    with pytest.raises(GradcheckError) as info:
        gradcheck_module(model, lambda o, t: o.sum(), x, None)
    assert info.value.report["w"].num_failed == 2 and not info.value.report["b"]


def test_gradcheck_module_bad_loss_and_models():
    model = Affine(np.ones((2, 2)), 0.0)
    with pytest.raises(ValueError, match=r"single-element Value, got shape \(3, 2\)"):
        gradcheck_module(model, lambda o, t: o, np.ones((3, 2)), None)
    with pytest.raises(ValueError, match="no parameter that requires grad"):
        model.w.requires_grad = model.b.requires_grad = False
        gradcheck_module(model, sse, np.ones((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="eps must be"):
        gradcheck_module(model, sse, np.ones((3, 2)), np.zeros((3, 2)), eps=0)


@given(st.floats(-2, 2), st.floats(-2, 2))
def test_gradcheck_module_leaves_parameters_bit_identical(w0, b0):
    model = Affine(np.array([[w0], [1.0]]), b0)
    gradcheck_module(model, sse, np.array([[0.5, -1.0]]), np.array([[0.2]]), raise_exception=False)
    assert model.w.data[0, 0] == w0 and model.b.data == b0


# -- gradcheck_module: vectorized perturbations ----------------------------------------------


def iris_like(dtype=np.float64, seed=1):
    """The benchmark's 4-10-3 sigmoid network with every weight random, and its data."""
    gen = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Dense(4, 10, dtype=dtype), nn.Sigmoid(), nn.Dense(10, 3, dtype=dtype), nn.Sigmoid()
    )
    for p in model.parameters():
        p.data[...] = gen.uniform(-1, 1, p.shape)
    return model, gen.standard_normal((30, 4)), gen.uniform(0, 1, (30, 3))


def assert_same_reports(fast, slow):
    """Equal up to the round-off of the finite differences (on common BLAS builds, bit for bit)."""
    assert [c.name for c in fast] == [c.name for c in slow] and bool(fast) == bool(slow)
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(f.analytic, s.analytic)
        np.testing.assert_allclose(f.numeric, s.numeric, rtol=1e-8, atol=1e-10)
        assert f.num_failed == s.num_failed
        assert f.max_abs_error == pytest.approx(s.max_abs_error, rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("method", ["central", "forward"])
@pytest.mark.parametrize("loss", [nn.sse_loss, nn.mse_loss, lambda o, t: nn.sse_loss(o, t, reduction="mean")])
def test_batched_module_check_equals_the_loop(method, loss):
    model, x, t = iris_like()
    fast = gradcheck_module(model, loss, x, t, method=method)
    slow = gradcheck_module(model, loss, x, t, method=method, vectorized=False)
    forced = gradcheck_module(model, loss, x, t, method=method, vectorized=True)
    # 2.bias has 3 elements: 6 copies are batched, 3 (forward differences) are looped.
    assert [c.vectorized for c in fast] == [True, True, True, method == "central"]
    assert not any(c.vectorized for c in slow) and all(c.vectorized for c in forced)
    assert fast and slow
    assert_same_reports(fast, slow)
    assert_same_reports(forced, slow)


def test_batched_module_check_catches_a_wrong_gradient_like_the_loop():
    class BadSigmoid(nn.Module):
        def forward(self, x):
            return bad_square(x).sigmoid()  # claims 2z + 1 where z > 2

    model, x, t = iris_like()
    model[1] = BadSigmoid()
    fast = gradcheck_module(model, nn.sse_loss, 3 * x, t, raise_exception=False)
    slow = gradcheck_module(model, nn.sse_loss, 3 * x, t, raise_exception=False, vectorized=False)
    assert not fast and fast["0.weight"].vectorized and not fast["0.weight"]
    assert fast["2.weight"]  # the layer above the wrong rule is unaffected
    assert_same_reports(fast, slow)


def test_float32_and_0d_parameters_in_a_batched_module():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = nn.Parameter(0.7)  # 0-d: a Python float in .data
            self.body = nn.Sequential(
                nn.Dense(3, 4, rng=0, dtype=np.float32), nn.Tanh(), nn.Dense(4, 2, rng=1)
            )

        def forward(self, x):
            return self.body(x) * self.gain

    model, x, t = Scaled(), rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    saved = {name: p.data for name, p in model.named_parameters()}
    for method in ("central", "forward"):  # forward differences fail if the 0-d gain is left perturbed
        fast = gradcheck_module(model, nn.sse_loss, x, t, method=method)
        slow = gradcheck_module(model, nn.sse_loss, x, t, method=method, vectorized=False)
        assert [c.vectorized for c in fast] == [False, True, True, True, method == "central"]
        assert_same_reports(fast, slow)
    for name, p in model.named_parameters():
        assert p.data is saved[name]
    assert type(model.gain.data) is float and model.body[0].weight.dtype == np.float32


def test_a_loss_that_reads_the_parameters_is_batched_exactly():
    model, x, t = iris_like()
    w = model[0].weight

    def penalized(o, t):  # E depends on 0.weight directly, not only through the output
        return nn.sse_loss(o, t) + 0.5 * (w * w).sum()

    fast = gradcheck_module(model, penalized, x, t)
    assert fast and fast["0.weight"].vectorized
    assert_same_reports(fast, gradcheck_module(model, penalized, x, t, vectorized=False))


def test_models_that_mix_the_batch_fall_back_to_the_loop():
    class Centered(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = nn.Dense(3, 2, rng=0)

        def forward(self, x):
            h = self.dense(x)
            return h - h.mean(axis=0)  # axis 0 is the batch of copies when batched

    model, x = Centered(), rng.standard_normal((6, 3))
    fast = gradcheck_module(model, lambda o, t: (o * o).sum(), x, None)
    assert fast and not any(c.vectorized for c in fast)
    assert_same_reports(fast, gradcheck_module(model, lambda o, t: (o * o).sum(), x, None, vectorized=False))
    with pytest.raises(
        ValueError, match=r"vectorized=True, parameter '0.weight'.*to shape \(12, 2\), got \(12, 12, 2\)"
    ):
        gradcheck_module(
            nn.Sequential(nn.Dense(3, 2)), lambda o, t: o.sum(), np.ones(3), None, vectorized=True
        )


def test_scalar_value_mlp_is_looped():
    path = Path(__file__).resolve().parents[1] / "examples" / "scalar_mlp.py"
    spec = importlib.util.spec_from_file_location("scalar_mlp_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = example.MLP(2, [3, 1], rng=0)
    before = {name: p.data for name, p in model.named_parameters()}
    report = gradcheck_module(model, lambda o, t: (o - t) ** 2, [0.5, -1.2], 0.3)
    assert report and len(report) == 13 and not any(c.vectorized for c in report)
    assert all(type(p.data) is float and p.data == before[name] for name, p in model.named_parameters())


def test_layers_before_the_parameter_run_once():
    class Spy(nn.Module):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def forward(self, x):
            self.shapes.append(np.shape(x))
            return nn.Identity()(x)

    spy = Spy()
    model = nn.Sequential(spy, nn.Dense(3, 4, rng=0), nn.Tanh(), nn.Dense(4, 2, rng=1))
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    report = gradcheck_module(model, nn.sse_loss, x, t)
    assert report and all(c.vectorized for c in report)
    assert spy.shapes == [(5, 3), (5, 3)]  # the checked forward pass, then once for every batch


def test_shared_layers_and_chunked_batches(monkeypatch):
    shared = nn.Dense(3, 3, rng=0)
    model = nn.Sequential(shared, nn.Tanh(), shared, nn.Sigmoid())
    x, t = rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))
    slow = gradcheck_module(model, nn.sse_loss, x, t, vectorized=False)
    whole = gradcheck_module(model, nn.sse_loss, x, t)
    monkeypatch.setattr(module_loss, "_MODULE_BATCH_ELEMENTS", 1)  # one perturbed element per call
    chunked = gradcheck_module(model, nn.sse_loss, x, t)
    assert [c.name for c in slow] == ["0.weight", "0.bias"]
    assert all(c.vectorized for c in whole) and all(c.vectorized for c in chunked)
    assert_same_reports(whole, slow)
    assert_same_reports(chunked, slow)


class Flaky(nn.Module):
    """A Dense layer that raises on every call from its n-th one on (or only on batched calls)."""

    def __init__(self, n, batched_only=False):
        super().__init__()
        self.dense = nn.Dense(3, 2, rng=0)
        self.n, self.batched_only, self.calls = n, batched_only, 0

    def forward(self, x):
        self.calls += 1
        if self.calls >= self.n and (np.ndim(x) > 2 or not self.batched_only):
            raise RuntimeError("layer failed")
        return self.dense(x)


@pytest.mark.parametrize("vectorized", [None, True, False])
@pytest.mark.parametrize("n", [2, 3, 4])  # fails: in the layer outputs, the weight's batch, the bias's
def test_parameters_are_restored_after_a_failure_mid_check(vectorized, n):
    model = nn.Sequential(Flaky(n), nn.Tanh(), nn.Dense(2, 1, rng=1, dtype=np.float32))
    params = dict(model.named_parameters())
    saved = {name: (p.data, p.data.copy()) for name, p in params.items()}
    sentinel = np.full(params["0.dense.weight"].shape, 9.0)
    params["0.dense.weight"].grad = sentinel
    with pytest.raises(RuntimeError, match="layer failed"):
        gradcheck_module(model, nn.sse_loss, np.ones((4, 3)), np.zeros((4, 1)), vectorized=vectorized)
    for name, p in params.items():
        data, copy = saved[name]
        assert p.data is data and p.data.dtype == copy.dtype and np.array_equal(p.data, copy)
        assert p.grad is (sentinel if name == "0.dense.weight" else None)


def test_a_batch_that_fails_after_the_probe_falls_back_to_the_loop(monkeypatch):
    monkeypatch.setattr(module_loss, "_MODULE_BATCH_ELEMENTS", 1)  # one perturbed element per call
    model = nn.Sequential(Flaky(4, batched_only=True), nn.Tanh())
    x, t = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    # Calls: the checked pass, the layer outputs, the probe's batch (it passes), two single
    # evaluations of the probe, then batches, which fail.
    report = gradcheck_module(model, nn.sse_loss, x, t, method="forward")
    assert report and not any(c.vectorized for c in report)
    assert_same_reports(
        report, gradcheck_module(model, nn.sse_loss, x, t, method="forward", vectorized=False)
    )


def test_gradcheck_module_bad_vectorized():
    with pytest.raises(ValueError, match="vectorized must be None, True or False"):
        gradcheck_module(nn.Dense(2, 1), nn.sse_loss, np.ones((1, 2)), np.ones((1, 1)), vectorized="yes")
    with pytest.raises(
        TypeError, match="vectorized=True needs a model that returns a Value, Listed returned list"
    ):
        gradcheck_module(Listed(), lambda o, t: o[0].sum(), np.ones(2), None, vectorized=True)


class Listed(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(np.array([1.0, 2.0, 3.0]))

    def forward(self, x):
        return [self.w * x[0], self.w * x[1]]


def test_gradcheck_module_leaves_value_inputs_alone():
    xv = Value(np.random.default_rng(0).standard_normal((5, 3)))
    tv = Value(np.zeros((5, 2)))
    assert gradcheck_module(nn.Sequential(nn.Dense(3, 2, rng=0)), nn.mse_loss, xv, tv)
    assert xv.grad is None and tv.grad is None
