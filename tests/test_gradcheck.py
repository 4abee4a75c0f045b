"""gradcheck and gradcheck_module: they pass on correct gradients, catch wrong ones, and say where."""

import importlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_nn
from tinygrad_nn import Value, stack
from tinygrad_nn.gradcheck import GradcheckError, GradcheckReport, gradcheck, gradcheck_module
from tinygrad_nn.ops import Op
from tinygrad_nn.testing import arrays, shapes
from tinygrad_nn.value import apply

# The package exports the function gradcheck, which hides the module of the same name.
gc_module = importlib.import_module("tinygrad_nn.gradcheck")
rng = np.random.default_rng(0)


def test_package_exports():
    assert tinygrad_nn.gradcheck is gradcheck and tinygrad_nn.gradcheck_module is gradcheck_module
    assert tinygrad_nn.GradcheckError is GradcheckError and issubclass(GradcheckError, AssertionError)
    assert {"gradcheck", "gradcheck_module", "GradcheckError", "backprop"} <= set(tinygrad_nn.__all__)


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
    assert abs(x[report[0].worst_index]) == np.max(np.abs(x))


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
    monkeypatch.setattr(gc_module, "_MAX_BATCH_ELEMENTS", 20)
    x = rng.standard_normal((3, 3))
    fn = Counting(lambda x: (x.tanh() * x).sum(-1))
    report = gradcheck(fn, [x], vectorized=True)
    assert report and report[0].vectorized
    assert fn.calls == 1 + 9  # 2 rows of 9 elements per chunk: one perturbed element per call
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


def test_gradcheck_module_restores_even_when_the_loss_raises():
    model = Affine(rng.standard_normal((3, 2)), 0.5)
    before = model.w.data.copy()
    calls = []

    def flaky(out, t):
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("boom")
        return sse(out, t)

    with pytest.raises(RuntimeError, match="boom"):
        gradcheck_module(model, flaky, np.ones((2, 3)), np.zeros((2, 2)))
    assert np.array_equal(model.w.data, before) and model.b.data == 0.5
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
