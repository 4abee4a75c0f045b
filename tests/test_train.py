"""tinygrad_nn.train: options, the training run, its files, progress display and metrics."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from typing import ClassVar

import numpy as np
import pytest

from tinygrad_nn import data, nn, optim
from tinygrad_nn.checkpoint import atomic_write_bytes as real_atomic_write_bytes
from tinygrad_nn.train import (
    PROGRESS_ENV,
    TrainConfig,
    TrainConfigError,
    TrainInterrupted,
    build_model,
    default_epochs,
    default_lr,
    load_run,
    parse_hidden,
    reporting,
    train,
)


def _run(tmp_path, quiet=True, **options):
    out, err = io.StringIO(), io.StringIO()
    config = TrainConfig(out=tmp_path / "run", **options)
    result = train(config, quiet=quiet, stdout=out, stderr=err)
    return result, out.getvalue(), err.getvalue()


# -- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sizes"), [("10", (10,)), ("10,10", (10, 10)), (" 8, 4 ", (8, 4)), ("none", ()), (" NONE ", ())]
)
def test_parse_hidden(text, sizes):
    assert parse_hidden(text) == sizes


@pytest.mark.parametrize("text", ["10,x", "10,,10", "-3", "0", "1.5", "10;10", "ten"])
def test_parse_hidden_refuses_malformed_sizes(text):
    with pytest.raises(TrainConfigError, match="--hidden: expected comma-separated positive integers"):
        parse_hidden(text)


@pytest.mark.parametrize("text", ["", "  "])
def test_parse_hidden_refuses_an_empty_string_instead_of_meaning_none(text):
    with pytest.raises(TrainConfigError, match="or 'none' for no hidden layer, got"):
        parse_hidden(text)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dataset": "mnist"}, "--dataset: unknown dataset 'mnist'"),
        ({"activation": "gelu"}, "--activation: must be one of sigmoid, tanh, relu"),
        ({"optimizer": "rmsprop"}, "--optimizer: must be one of sgd, adam"),
        ({"loss": "hinge"}, "--loss: must be one of sse, mse, cross-entropy"),
        ({"hidden": (10, 0)}, "--hidden: layer widths must be positive integers"),
        ({"lr": 0.0}, "--lr: the learning rate must be a finite number > 0, got 0.0"),
        ({"lr": -0.1}, "--lr: the learning rate must be a finite number > 0"),
        ({"lr": float("inf")}, "--lr: the learning rate must be a finite number > 0"),
        ({"epochs": 0}, "--epochs: must be a positive integer, got 0"),
        ({"batch_size": 0}, "--batch-size: must be a positive integer, got 0"),
        ({"seed": -1}, "--seed: must be an integer >= 0"),
        ({"test_size": 1.0}, "test_size: must be a fraction strictly between 0 and 1"),
    ],
)
def test_bad_options_are_refused_before_anything_runs(tmp_path, options, message):
    with pytest.raises(TrainConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _run(tmp_path, **options)
    assert not (tmp_path / "run").exists()


def test_cross_entropy_needs_a_classification_dataset(tmp_path):
    with pytest.raises(TrainConfigError, match="cross-entropy needs a classification dataset; 'sum'"):
        _run(tmp_path, dataset="sum", loss="cross-entropy")


def test_an_unwritable_out_is_refused_before_training(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TrainConfigError, match=r"--out: .*exists and is not a directory"):
        train(TrainConfig(out=blocker, epochs=1), quiet=True, stdout=io.StringIO())
    with pytest.raises(TrainConfigError, match=r"--out: cannot write to .*file/sub.* \(Not a directory\)"):
        train(TrainConfig(out=blocker / "sub", epochs=1), quiet=True, stdout=io.StringIO())


def test_defaults_depend_on_dataset_optimizer_and_loss():
    cfg = TrainConfig(dataset="digits").resolved(data.Task("classification", 10))
    assert cfg.loss == "cross-entropy" and cfg.lr == 0.01 and cfg.epochs == default_epochs("digits")
    assert str(cfg.out) == "runs/digits"
    reg = TrainConfig(dataset="linear", optimizer="sgd").resolved(data.Task("regression", None, 1))
    assert reg.loss == "mse" and reg.lr == default_lr("sgd", "mse")
    assert default_lr("sgd", "sse") < default_lr("sgd", "mse")


def test_build_model_layers_and_output():
    model = build_model(4, 3, (8, 5), "relu", "sigmoid", rng=0)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Dense", "ReLU", "Dense", "ReLU", "Dense", "Sigmoid"]
    assert model(np.ones((2, 4))).shape == (2, 3)
    assert [type(m).__name__ for m in build_model(2, 1, (), "tanh")] == ["Dense"]
    with pytest.raises(TrainConfigError, match="output must be None or 'sigmoid'"):
        build_model(2, 1, (3,), "tanh", "softmax")


# -- the run --------------------------------------------------------------------------------------------


def test_default_iris_run_learns_and_reports(tmp_path):
    result, out, err = _run(tmp_path)
    assert result.final["train_accuracy"] >= 0.95 and result.final["test_accuracy"] >= 0.85
    lines = out.splitlines()
    assert lines[0].startswith("iris (classification, 3 classes): 120 train / 30 test samples; model 4-10-3")
    assert "final: train accuracy " in lines[1] and "test accuracy " in lines[1]
    assert lines[2] == f"saved checkpoint to {tmp_path / 'run' / 'model.npz'}"
    assert err == ""  # quiet: no progress


def test_the_run_writes_checkpoint_csv_and_json(tmp_path):
    result, _, _ = _run(tmp_path, epochs=4, hidden=(6,))
    run = tmp_path / "run"
    with (run / "metrics.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"epoch", "loss", "train_accuracy", "test_accuracy"}
    assert float(rows[-1]["loss"]) == pytest.approx(result.history[-1]["loss"], rel=1e-5)

    summary = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert summary["config"]["hidden"] == [6] and summary["config"]["epochs"] == 4
    assert summary["final"]["test_accuracy"] == result.final["test_accuracy"]
    assert len(summary["standardization"]["mean"]) == 4

    # The checkpoint restores the trained model into a fresh one of the same architecture.
    fresh = build_model(4, 3, (6,), "tanh", None, rng=123)
    fresh.load(run / "model.npz")
    x = np.random.default_rng(0).normal(size=(5, 4))
    assert np.array_equal(fresh(x).data, result.model(x).data)
    if "plot" not in result.files:  # matplotlib missing: no PNG, and none claimed
        assert not (run / "loss.png").exists()


def test_without_a_hidden_layer_the_header_names_no_activation(tmp_path):
    result, out, _ = _run(tmp_path, hidden=(), epochs=1)
    assert [type(m).__name__ for m in result.model] == ["Dense"]
    assert "; model 4-3, cross-entropy loss, adam" in out.splitlines()[0]
    _, out, _ = _run(tmp_path, hidden=(), loss="sse", epochs=1)
    assert "; model 4-3 (sigmoid outputs), sse loss" in out.splitlines()[0]


class _FakeAxes:
    def __getattr__(self, name):
        return lambda *args, **kwargs: None


class _FakeFigure(_FakeAxes):
    def savefig(self, target, **options):
        if hasattr(target, "write"):
            target.write(b"\x89PNG fake")
        else:
            with open(target, "wb") as f:
                f.write(b"\x89PNG fake")


def _fake_matplotlib(monkeypatch):
    pyplot = types.SimpleNamespace(
        subplots=lambda *args, **kwargs: (_FakeFigure(), (_FakeAxes(), _FakeAxes())), close=lambda fig: None
    )
    monkeypatch.setitem(sys.modules, "matplotlib", types.SimpleNamespace(use=lambda backend: None))
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)


def test_metrics_and_plot_are_written_atomically(tmp_path, monkeypatch):
    _fake_matplotlib(monkeypatch)
    written = []

    def recording(path, data):
        assert isinstance(data, bytes)
        written.append(path.name)
        real_atomic_write_bytes(path, data)

    monkeypatch.setattr(reporting, "atomic_write_bytes", recording)
    result, _, _ = _run(tmp_path, epochs=2)
    assert sorted(written) == ["loss.png", "metrics.csv", "metrics.json"]
    run = tmp_path / "run"
    assert result.files["plot"] == run / "loss.png" and (run / "loss.png").read_bytes() == b"\x89PNG fake"
    assert len((run / "metrics.csv").read_text(encoding="utf-8").splitlines()) == 3
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["config"]["epochs"] == 2
    assert not [p.name for p in run.iterdir() if p.name.startswith(".")]  # no temp files left


def test_the_sse_loss_is_reported_per_example(tmp_path):
    # With a negligible learning rate the weights stay put, so the reported epoch loss
    # must equal E = ½ Σ (O − t)² over the training set divided by its size.
    result, _, _ = _run(tmp_path, loss="sse", optimizer="sgd", lr=1e-12, epochs=1, batch_size=16)
    X, y, _ = data.load("iris", rng=0)
    X_tr, _, y_tr, _ = data.train_test_split(X, y, test_size=0.2, rng=0, stratify=True)
    out = result.model(result.standardization.apply(X_tr))
    per_example = nn.sse_loss(out, data.one_hot(y_tr, 3)).item() / len(X_tr)
    assert result.history[0]["loss"] == pytest.approx(per_example, rel=1e-6)


def test_same_seed_same_run_other_seed_other_run(tmp_path):
    a, _, _ = _run(tmp_path, epochs=3)
    b, _, _ = _run(tmp_path, epochs=3)
    c, _, _ = _run(tmp_path, epochs=3, seed=1)
    assert a.history == b.history
    assert a.history != c.history


def test_regression_reports_rmse_and_r2(tmp_path):
    result, out, _ = _run(tmp_path, dataset="linear", epochs=60)
    assert set(result.final) == {"epoch", "loss", "train_rmse", "train_r2", "test_rmse", "test_r2"}
    assert result.final["test_r2"] > 0.9
    X, y, _ = data.load("linear", rng=0)
    _, X_test, _, y_test = data.train_test_split(X, y, test_size=0.2, rng=0)
    pred = result.model(result.standardization.apply(X_test)).data
    assert result.final["test_rmse"] == pytest.approx(np.sqrt(np.mean((pred - y_test) ** 2)))
    r2 = 1 - np.sum((pred - y_test) ** 2) / np.sum((y_test - y_test.mean()) ** 2)
    assert result.final["test_r2"] == pytest.approx(r2)
    assert "final: train RMSE " in out and "R² " in out


def test_sse_on_classification_uses_sigmoid_outputs_and_one_hot_targets(tmp_path):
    result, out, _ = _run(tmp_path, loss="sse", optimizer="sgd", activation="sigmoid", epochs=40)
    assert isinstance(result.model[-1], nn.Sigmoid)
    assert "sigmoid outputs" in out and "sse loss, sgd lr 0.02" in out
    assert result.final["train_accuracy"] > 0.8


def test_a_diverging_run_stops_with_one_clear_error(tmp_path):
    with pytest.raises(
        FloatingPointError, match=r"the loss became (inf|nan) at epoch \d+: training diverged"
    ):
        _run(tmp_path, dataset="linear", optimizer="sgd", lr=1e4, epochs=50)


# -- progress -------------------------------------------------------------------------------------------


def test_plain_progress_lines_when_stderr_is_not_a_terminal(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "tqdm", None)  # as if tqdm were not installed
    _, _, err = _run(tmp_path, quiet=False, epochs=20)
    lines = err.splitlines()
    assert lines[0].startswith("epoch  1/20  loss ") and "train acc" in lines[0] and "test acc" in lines[0]
    assert [line.split()[1] for line in lines] == ["1/20", "2/20", "4/20", "6/20", "8/20", "10/20",
                                                    "12/20", "14/20", "16/20", "18/20", "20/20"]  # fmt: skip


def test_progress_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setenv(PROGRESS_ENV, "none")
    _, out, err = _run(tmp_path, quiet=False, epochs=2)
    assert err == "" and "final:" in out


class _FakeBar:
    instances: ClassVar[list[_FakeBar]] = []

    def __init__(self, total, desc, unit, file, leave, dynamic_ncols):
        self.total, self.desc, self.file = total, desc, file
        self.updates, self.postfixes, self.closed = 0, [], False
        _FakeBar.instances.append(self)

    def set_postfix_str(self, text, refresh=True):
        self.postfixes.append(text)

    def update(self, n):
        self.updates += n

    def close(self):
        self.closed = True


def test_a_tqdm_bar_with_the_live_loss_when_forced_or_on_a_terminal(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", types.SimpleNamespace(tqdm=_FakeBar))
    _FakeBar.instances.clear()
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    _run(tmp_path, quiet=False, epochs=3)
    (bar,) = _FakeBar.instances
    assert bar.total == 3 and bar.updates == 3 and bar.closed and bar.desc == "iris"
    assert any(p.startswith("loss ") for p in bar.postfixes)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv(PROGRESS_ENV)
    _FakeBar.instances.clear()
    train(TrainConfig(out=tmp_path / "tty", epochs=2), stdout=io.StringIO(), stderr=Terminal())
    assert len(_FakeBar.instances) == 1


def test_forcing_a_bar_without_tqdm_falls_back_to_plain_lines(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setenv(PROGRESS_ENV, "bar")
    _, _, err = _run(tmp_path, quiet=False, epochs=2)
    assert err.startswith("epoch 1/2  loss ")


# -- Ctrl-C -------------------------------------------------------------------------------------------------


def _ctrl_c_in_step(monkeypatch, at_call: int) -> None:
    """Make the ``at_call``-th Adam step update the weights, spoil one, then raise KeyboardInterrupt.

    As a Ctrl-C landing part-way through a step would leave them: the saved run
    must not have these weights.
    """
    real_step = optim.Adam.step
    calls = [0]

    def step(self):
        calls[0] += 1
        real_step(self)
        if calls[0] == at_call:
            self.params[0].data = np.zeros_like(self.params[0].data)
            raise KeyboardInterrupt

    monkeypatch.setattr(optim.Adam, "step", step)


def test_ctrl_c_saves_the_run_as_of_the_last_completed_epoch(tmp_path, monkeypatch, complete_run):
    clean, _, _ = _run(tmp_path / "clean", epochs=2)  # the same run, stopped after epoch 2 by design
    _ctrl_c_in_step(monkeypatch, at_call=2 * 8 + 5)  # iris: 8 batches an epoch, so in epoch 3
    out = io.StringIO()
    with pytest.raises(TrainInterrupted) as caught:
        train(TrainConfig(out=tmp_path / "run", epochs=50), quiet=True, stdout=out)
    run = tmp_path / "run"
    exc = caught.value
    assert (exc.completed, exc.epochs, exc.saved) == (2, 50, run)
    assert str(exc) == f"interrupted in epoch 3/50: saved the run as of epoch 2 to {run}"
    meta = complete_run(run)
    assert meta.interrupted and (meta.epochs_completed, meta.epochs) == (2, 50)
    summary = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    assert summary["interrupted"] is True and summary["epochs_completed"] == 2
    assert summary["final"] == clean.history[-1]
    model, _ = load_run(run)
    for name, weights in clean.model.state_dict().items():
        assert np.array_equal(model.state_dict()[name], weights), name
    assert "final:" not in out.getvalue()


def test_ctrl_c_before_the_first_epoch_completes_saves_nothing(tmp_path, monkeypatch):
    _run(tmp_path, epochs=1)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    _ctrl_c_in_step(monkeypatch, at_call=3)
    with pytest.raises(TrainInterrupted) as caught:
        train(TrainConfig(out=run, epochs=5), quiet=True, stdout=io.StringIO())
    assert (caught.value.completed, caught.value.saved) == (0, None)
    assert (
        str(caught.value)
        == f"interrupted in epoch 1/5: no epoch completed, nothing saved ({run} keeps the previous run)"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    _ctrl_c_in_step(monkeypatch, at_call=1)
    with pytest.raises(TrainInterrupted, match=r"nothing saved \(.*fresh was not created\)"):
        train(TrainConfig(out=tmp_path / "fresh", epochs=5), quiet=True, stdout=io.StringIO())
    assert not (tmp_path / "fresh").exists()
