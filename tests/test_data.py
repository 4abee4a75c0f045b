"""Tests for tinygrad_nn.data: bundled sets, generators, split/standardize/one-hot/batches, load()."""

from __future__ import annotations

import hashlib
from importlib import resources

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_nn import data

# ---------------------------------------------------------------- bundled data


def test_bundled_files_match_recorded_checksums():
    # The README in tinygrad_nn/data records these; a changed file must change both.
    expected = {
        "iris.csv": "f13ffa8fdd56fd8e6c8d16d4081a3fbd3114bcd0aae4256c43205169cd9d1449",
        "digits.csv.gz": "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
    }
    pkg = resources.files("tinygrad_nn.data")
    readme = pkg.joinpath("README.md").read_text(encoding="utf-8")
    for name, digest in expected.items():
        assert hashlib.sha256(pkg.joinpath(name).read_bytes()).hexdigest() == digest
        assert digest in readme


def test_attribution_names_sources_and_licence():
    readme = resources.files("tinygrad_nn.data").joinpath("README.md").read_text(encoding="utf-8")
    for needle in (
        "10.24432/C56C76",
        "10.24432/C50P49",
        "CC BY 4.0",
        "Fisher",
        "Alpaydin",
        "scikit-learn",
        "BSD",
    ):
        assert needle in readme


def test_iris_shapes_dtypes_and_names():
    ds = data.load_iris()
    assert ds.X.shape == (150, 4) and ds.X.dtype == np.float64
    assert ds.y.shape == (150,) and ds.y.dtype == np.int64
    assert ds.target_names == ("setosa", "versicolor", "virginica")
    assert len(ds.feature_names) == 4 and ds.feature_names[0] == "sepal length (cm)"
    assert ds.n_classes == 3 and ds.name == "iris"
    X, y = ds  # unpacks as a pair
    assert X is ds.X and y is ds.y


def test_iris_known_statistics():
    X, y = data.load_iris()
    np.testing.assert_array_equal(np.bincount(y), [50, 50, 50])
    np.testing.assert_allclose(X.mean(axis=0), [5.843333, 3.057333, 3.758, 1.199333], atol=1e-6)
    np.testing.assert_allclose(X.min(axis=0), [4.3, 2.0, 1.0, 0.1])
    np.testing.assert_allclose(X.max(axis=0), [7.9, 4.4, 6.9, 2.5])
    np.testing.assert_array_equal(X[0], [5.1, 3.5, 1.4, 0.2])
    # Setosa has by far the smallest petals: the classic linearly separable class.
    assert X[y == 0, 2].max() < X[y != 0, 2].min()


def test_digits_shapes_values_and_counts():
    ds = data.load_digits()
    assert ds.X.shape == (1797, 64) and ds.X.dtype == np.float64
    assert ds.y.shape == (1797,) and ds.y.dtype == np.int64
    assert ds.X.min() == 0 and ds.X.max() == 16
    np.testing.assert_array_equal(ds.X, np.round(ds.X))
    np.testing.assert_array_equal(np.bincount(ds.y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    assert ds.target_names == tuple("0123456789") and ds.feature_names[9] == "pixel_1_1"
    # Some border pixels are blank in every image: the reason standardize guards std = 0.
    assert (ds.X.std(axis=0) == 0).sum() == 3


def test_loaders_return_fresh_copies():
    ds = data.load_iris()
    ds.X[:] = -1.0
    ds.y[:] = 7
    again = data.load_iris()
    assert again.X[0, 0] == 5.1 and again.y[0] == 0


# ---------------------------------------------------------------- generators

GENERATORS = {
    "xor": lambda rng: data.xor(64, 0.1, rng=rng),
    "moons": lambda rng: data.moons(64, 0.1, rng=rng),
    "spirals2": lambda rng: data.spirals(64, 2, 0.05, rng=rng),
    "spirals3": lambda rng: data.spirals(64, 3, 0.05, rng=rng),
    "sum": lambda rng: data.sum_data(64, rng=rng),
    "linear": lambda rng: data.linear(64, rng=rng),
}


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generators_deterministic_per_seed_and_differ_across_seeds(name):
    make = GENERATORS[name]
    X1, y1 = make(3)
    X2, y2 = make(3)
    X3, _ = make(4)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    # A Generator is accepted and, seeded alike, gives the int seed's data.
    X4, y4 = make(np.random.default_rng(3))
    np.testing.assert_array_equal(X1, X4)
    np.testing.assert_array_equal(y1, y4)


def test_xor_truth_table_by_default():
    X, y = data.xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == np.float64 and y.dtype == np.int64


def test_xor_samples_are_balanced_and_labelled_by_corner():
    X, y = data.xor(n=10, rng=0)
    assert X.shape == (10, 2) and y.shape == (10,)
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]).astype(int))
    corners = (2 * X[:, 0] + X[:, 1]).astype(int)
    np.testing.assert_array_equal(np.sort(np.bincount(corners)), [2, 2, 3, 3])
    Xn, yn = data.xor(n=400, noise=0.1, rng=0)
    # The label is that of the nearest corner; with noise 0.1 nearly all points are still nearest their own.
    nearest = np.logical_xor(Xn[:, 0] > 0.5, Xn[:, 1] > 0.5).astype(int)
    assert (nearest == yn).mean() > 0.95
    assert not np.array_equal(Xn, np.round(Xn))


def test_or_gate():
    X, y = data.or_gate()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 1])
    assert y.dtype == np.int64


def test_moons_lie_on_their_half_circles_without_noise():
    X, y = data.moons(101, noise=0.0, rng=0)
    assert X.shape == (101, 2) and X.dtype == np.float64 and y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y), [51, 50])
    upper, lower = X[y == 0], X[y == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0)
    assert (upper[:, 1] >= 0).all()
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1.0, lower[:, 1] - 0.5), 1.0)
    assert (lower[:, 1] <= 0.5).all()
    assert 0 < y[:50].sum() < 50  # shuffled, not grouped by class


@pytest.mark.parametrize("classes", [2, 3])
def test_spirals_arms_without_noise(classes):
    X, y = data.spirals(300, classes=classes, noise=0.0, rng=1)
    assert X.shape == (300, 2) and set(np.unique(y)) == set(range(classes))
    np.testing.assert_array_equal(np.bincount(y), [300 // classes] * classes)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 1.0
    # Each point's angle is 2 pi (k / classes + r) modulo a full turn.
    angle = np.arctan2(X[:, 1], X[:, 0])
    diff = np.angle(np.exp(1j * (angle - 2 * np.pi * (y / classes + r))))
    np.testing.assert_allclose(diff[r > 1e-6], 0.0, atol=1e-9)


def test_spirals_uneven_split():
    _, y = data.spirals(10, classes=3, rng=0)
    np.testing.assert_array_equal(np.bincount(y), [4, 3, 3])


def test_sum_data():
    X, y = data.sum_data(rng=0)
    assert X.shape == (10_000, 2) and y.shape == (10_000, 1) and y.dtype == np.float64
    np.testing.assert_array_equal(y[:, 0], X[:, 0] + X[:, 1])
    assert X.min() >= 0.0 and X.max() < 0.5 and y.max() < 1.0
    X2, _ = data.sum_data(50, low=-2.0, high=-1.0, rng=0)
    assert X2.min() >= -2.0 and X2.max() < -1.0


def test_linear():
    X, t = data.linear(50, rng=0)
    assert X.shape == (50, 3) and t.shape == (50, 1)
    np.testing.assert_allclose(t[:, 0], 2 * X[:, 0] - X[:, 1] + 5 * X[:, 2])
    assert X.min() >= -1.0 and X.max() < 1.0
    np.testing.assert_array_equal(data.LINEAR_WEIGHTS, [2.0, -1.0, 5.0])
    with pytest.raises(ValueError):
        data.LINEAR_WEIGHTS[0] = 3.0
    _, noisy = data.linear(50, noise=0.5, rng=0)
    assert 0.2 < np.std(noisy - t) < 0.8


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: data.moons(0), "moons: n must be a positive integer, got 0"),
        (lambda: data.spirals(-5), "spirals: n must be a positive integer, got -5"),
        (lambda: data.spirals(10, classes=1), "spirals: classes must be at least 2, got 1"),
        (lambda: data.xor(0), "xor: n must be a positive integer, got 0"),
        (lambda: data.sum_data(0), "sum_data: n must be a positive integer, got 0"),
        (lambda: data.linear(-1), "linear: n must be a positive integer, got -1"),
        (lambda: data.moons(10, noise=-0.1), "moons: noise must be a finite number >= 0, got -0.1"),
        (lambda: data.sum_data(10, low=1.0, high=0.0), "sum_data: need low < high"),
        (lambda: data.moons(10, rng=-1), "moons: rng seed must be >= 0, got -1"),
    ],
)
def test_generator_value_errors(call, fragment):
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(".", r"\.")):
        call()


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: data.moons(10.5), "moons: n must be a positive integer, got 10.5"),
        (lambda: data.linear(True), "linear: n must be a positive integer, got True"),
        (lambda: data.moons(10, rng="seed"), "moons: rng must be an int seed or a numpy Generator"),
        (lambda: data.xor(4, noise="big"), "xor: noise must be a non-negative number"),
    ],
)
def test_generator_type_errors(call, fragment):
    with pytest.raises(TypeError, match=fragment.replace(".", r"\.")):
        call()


# ---------------------------------------------------------------- train_test_split


def test_split_sizes_disjoint_and_complete():
    X = np.arange(100.0).reshape(50, 2)
    y = np.arange(50)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, rng=0)
    assert X_tr.shape == (40, 2) and X_te.shape == (10, 2) and y_tr.shape == (40,) and y_te.shape == (10,)
    assert set(y_tr).isdisjoint(y_te)
    assert sorted(np.concatenate([y_tr, y_te])) == list(range(50))
    # Rows stay paired with their labels.
    np.testing.assert_array_equal(X_tr[:, 0], 2 * y_tr)
    np.testing.assert_array_equal(X_te[:, 0], 2 * y_te)


def test_split_seeded():
    X, y = data.load_iris()
    a = data.train_test_split(X, y, rng=5)
    b = data.train_test_split(X, y, rng=5)
    c = data.train_test_split(X, y, rng=6)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[3], c[3])


def test_split_stratified_keeps_class_proportions():
    X, y = data.load_iris()
    _, _, y_tr, y_te = data.train_test_split(X, y, test_size=0.2, rng=0, stratify=True)
    np.testing.assert_array_equal(np.bincount(y_te), [10, 10, 10])
    np.testing.assert_array_equal(np.bincount(y_tr), [40, 40, 40])
    assert not np.array_equal(y_te, np.sort(y_te))  # shuffled, not grouped by class
    Xd, yd = data.load_digits()
    _, _, _, yd_te = data.train_test_split(Xd, yd, test_size=0.25, rng=0, stratify=True)
    assert len(yd_te) == round(0.25 * 1797)
    assert np.abs(np.bincount(yd_te) - 0.25 * np.bincount(yd)).max() < 1


@given(
    counts=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    test_size=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**32 - 1),
)
def test_split_stratified_property(counts, test_size, seed):
    y = np.repeat(np.arange(len(counts)), counts)
    n = len(y)
    if n < 2:
        return
    X = np.arange(n)
    X_tr, X_te, y_tr, y_te = data.train_test_split(X, y, test_size=test_size, rng=seed, stratify=True)
    assert len(X_te) == min(max(round(test_size * n), 1), n - 1)
    assert len(X_tr) + len(X_te) == n
    assert set(X_tr).isdisjoint(X_te)
    np.testing.assert_array_equal(y[X_tr], y_tr)
    per_class = np.bincount(y_te, minlength=len(counts))
    assert (np.abs(per_class - test_size * np.array(counts)) < 1 + 1e-9).all()


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.2, 0.0, True])
def test_split_rejects_bad_test_size(bad):
    with pytest.raises(
        ValueError, match=r"train_test_split: test_size must be a fraction strictly between 0 and 1"
    ):
        data.train_test_split(np.zeros((10, 2)), np.zeros(10), test_size=bad)


def test_split_errors():
    with pytest.raises(ValueError, match=r"train_test_split: X and y have different numbers of samples"):
        data.train_test_split(np.zeros((10, 2)), np.zeros(9))
    with pytest.raises(ValueError, match=r"train_test_split: need at least 2 samples to split, got 1"):
        data.train_test_split(np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match=r"stratify=True needs 1-D class labels y, got shape \(10, 1\)"):
        data.train_test_split(np.zeros((10, 2)), np.zeros((10, 1)), stratify=True)


# ---------------------------------------------------------------- standardize


def test_standardize_train_stats_and_constant_columns():
    X, _ = data.load_digits()
    X_tr, X_te = X[:1500], X[1500:]
    Z_tr, Z_te, (mean, std) = data.standardize(X_tr, X_te)
    constant = X_tr.max(axis=0) == X_tr.min(axis=0)
    assert constant.any()
    np.testing.assert_allclose(Z_tr.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z_tr.std(axis=0)[~constant], 1.0)
    np.testing.assert_array_equal(Z_tr[:, constant], 0.0)
    assert np.isfinite(Z_te).all()
    np.testing.assert_array_equal(std[constant], 1.0)
    # The test split uses the training statistics, not its own.
    np.testing.assert_allclose(Z_te, (X_te - mean) / std)
    np.testing.assert_allclose(mean, X_tr.mean(axis=0))


def test_standardize_constant_nonzero_column_is_exactly_zero():
    # 0.1 is not exact in binary: its computed std is ~1e-17, not 0.
    X = np.column_stack([np.full(7, 0.1), np.arange(7.0)])
    Z, none, stats = data.standardize(X)
    assert none is None
    np.testing.assert_array_equal(Z[:, 0], 0.0)
    np.testing.assert_array_equal(stats.apply(X), Z)
    # Scale 1, not the rounding-level std: new data off the constant must not blow up.
    assert stats.std[0] == 1.0
    np.testing.assert_allclose(stats.apply([[0.2, 3.0]]), [[0.1, 0.0]])


def test_standardize_dtypes():
    X32 = np.arange(12, dtype=np.float32).reshape(6, 2)
    Z, _, stats = data.standardize(X32)
    assert Z.dtype == np.float32 and stats.mean.dtype == np.float32
    Zi, _, _ = data.standardize(np.arange(12).reshape(6, 2))
    assert Zi.dtype == np.float64
    np.testing.assert_allclose(Zi, Z, rtol=1e-6)


def test_standardize_errors():
    with pytest.raises(ValueError, match=r"standardize: X has shape \(3, 5\), expected \(n, 4\)"):
        data.standardize(np.ones((4, 4)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="standardize: X_train contains NaN or infinity"):
        data.standardize(np.array([[1.0], [np.nan]]))
    with pytest.raises(ValueError, match=r"standardize: X_train needs at least one row, got shape \(0, 3\)"):
        data.standardize(np.zeros((0, 3)))
    with pytest.raises(TypeError, match="standardize: X_train must hold numbers"):
        data.standardize(np.array([["a"], ["b"]]))


# ---------------------------------------------------------------- one_hot


def test_one_hot():
    out = data.one_hot(np.array([2, 0, 1, 2]), 4)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    assert out.dtype == np.float64
    assert data.one_hot([1.0, 0.0], 2, dtype=np.float32).dtype == np.float32
    assert data.one_hot(np.zeros((3, 5), dtype=int), 2).shape == (3, 5, 2)


def test_one_hot_errors():
    with pytest.raises(ValueError, match=r"one_hot: label 3 is outside 0\.\.2 \(num_classes=3\)"):
        data.one_hot([0, 3], 3)
    with pytest.raises(ValueError, match=r"one_hot: label -1 is outside"):
        data.one_hot([-1], 3)
    with pytest.raises(TypeError, match="one_hot: labels must be integers, got dtype float64"):
        data.one_hot([0.5], 3)
    with pytest.raises(ValueError, match="one_hot: num_classes must be a positive integer, got 0"):
        data.one_hot([0], 0)


# ---------------------------------------------------------------- batches


@given(n=st.integers(1, 60), batch_size=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_batches_cover_every_row_once(n, batch_size, seed):
    X = np.arange(n * 2).reshape(n, 2)
    y = np.arange(n)
    got = list(data.batches(X, y, batch_size, rng=seed))
    sizes = [len(yb) for _, yb in got]
    assert len(got) == data.num_batches(n, batch_size)
    assert all(s == batch_size for s in sizes[:-1]) and 1 <= sizes[-1] <= batch_size
    seen = np.concatenate([yb for _, yb in got])
    np.testing.assert_array_equal(np.sort(seen), y)
    for xb, yb in got:
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_batches_seeding_and_shuffle():
    X = np.arange(100.0)[:, None]
    y = np.arange(100)
    first = [yb for _, yb in data.batches(X, y, 16, rng=0)]
    again = [yb for _, yb in data.batches(X, y, 16, rng=0)]
    other = [yb for _, yb in data.batches(X, y, 16, rng=1)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(np.concatenate(first), np.concatenate(other))
    assert not np.array_equal(np.concatenate(first), y)
    # One Generator across epochs: a new order each epoch, reproducible from the seed.
    gen_a, gen_b = np.random.default_rng(9), np.random.default_rng(9)
    ep1 = np.concatenate([yb for _, yb in data.batches(X, y, 16, rng=gen_a)])
    ep2 = np.concatenate([yb for _, yb in data.batches(X, y, 16, rng=gen_a)])
    assert not np.array_equal(ep1, ep2)
    np.testing.assert_array_equal(ep1, np.concatenate([yb for _, yb in data.batches(X, y, 16, rng=gen_b)]))
    in_order = np.concatenate([yb for _, yb in data.batches(X, y, 16, shuffle=False)])
    np.testing.assert_array_equal(in_order, y)


def test_batches_errors_raise_at_call_time():
    with pytest.raises(ValueError, match="batches: batch_size must be a positive integer, got 0"):
        data.batches(np.zeros((4, 2)), np.zeros(4), 0)
    with pytest.raises(
        ValueError, match=r"batches: X and y have different numbers of samples: shapes \(4, 2\) and \(3,\)"
    ):
        data.batches(np.zeros((4, 2)), np.zeros(3), 2)
    with pytest.raises(TypeError, match="batches: rng must be an int seed, a numpy Generator or None"):
        data.batches(np.zeros((4, 2)), np.zeros(4), 2, rng=0.5)


# ---------------------------------------------------------------- load


@pytest.mark.parametrize(
    "name, shape, task",
    [
        ("iris", (150, 4), data.Task("classification", 3)),
        ("digits", (1797, 64), data.Task("classification", 10)),
        ("xor", (200, 2), data.Task("classification", 2)),
        ("moons", (200, 2), data.Task("classification", 2)),
        ("spirals", (300, 2), data.Task("classification", 2)),
        ("sum", (10_000, 2), data.Task("regression", None, 1)),
        ("linear", (100, 3), data.Task("regression", None, 1)),
    ],
)
def test_load_every_name(name, shape, task):
    X, y, got = data.load(name)
    assert name in data.DATASET_NAMES
    assert X.shape == shape and X.dtype == np.float64
    assert got == task
    if task.is_classification:
        assert y.shape == (shape[0],) and y.dtype == np.int64
        assert y.min() >= 0 and y.max() < task.num_outputs
    else:
        assert y.shape == (shape[0], 1) and y.dtype == np.float64 and task.num_outputs == 1


def test_load_options_and_seed():
    X, y, _ = data.load("moons", n=50, noise=0.0, rng=3)
    X2, y2 = data.moons(50, 0.0, rng=3)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(data.load("spirals", rng=1)[0], data.load("spirals", rng=2)[0])
    assert str(data.load("sum", n=5)[2]) == "regression, 1 target"


def test_load_errors():
    with pytest.raises(ValueError, match=r"load: unknown dataset 'mnist'; choose one of iris, digits, xor"):
        data.load("mnist")
    with pytest.raises(ValueError, match="load: n must be a positive integer, got 0"):
        data.load("moons", n=0)
    with pytest.raises(ValueError, match="load: 'iris' is a fixed bundled data set"):
        data.load("iris", n=10)
    with pytest.raises(ValueError, match="load: 'sum' has no noise parameter"):
        data.load("sum", noise=0.1)
