"""tinygrad_nn.train.run: the checkpoint describes its model, and load_run rebuilds it from that alone."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from tinygrad_nn import data, nn
from tinygrad_nn.checkpoint import CheckpointError, load_npz, load_npz_metadata, save_npz
from tinygrad_nn.train import FORMAT_VERSION, TrainConfig, load_run, train


def _train(tmp_path, **options):
    return train(TrainConfig(out=tmp_path / "run", **options), quiet=True, stdout=io.StringIO())


def test_the_checkpoint_alone_rebuilds_the_trained_model(tmp_path, complete_run):
    result = _train(tmp_path, hidden=(6, 5), activation="relu", epochs=3)
    run = tmp_path / "run"
    for where in (run, run / "model.npz"):
        model, meta = load_run(where)
        assert meta.layers == (4, 6, 5, 3) and meta.hidden == (6, 5) and meta.activation == "relu"
        assert meta.output is None and meta.loss == "cross-entropy"
        assert meta.dataset == "iris" and meta.task == data.Task("classification", 3)
        assert meta.class_names == ("setosa", "versicolor", "virginica")
        assert meta.epochs == meta.epochs_completed == 3 and meta.interrupted is False
        assert meta.version == FORMAT_VERSION and meta.config["hidden"] == [6, 5]
        # The standardization round-trips exactly (JSON keeps every float64 digit).
        assert np.array_equal(meta.standardization.mean, result.standardization.mean)
        assert np.array_equal(meta.standardization.std, result.standardization.std)
        assert repr(model) == repr(result.model)
        x = meta.standardization.apply(np.random.default_rng(0).normal(5.0, 2.0, size=(7, 4)))
        assert np.array_equal(model(x).data, result.model(x).data)
    assert result.metadata is not None and complete_run(run).to_json() == result.metadata.to_json()


def test_the_metadata_says_which_output_and_task_the_model_has(tmp_path):
    _train(tmp_path, loss="sse", optimizer="sgd", activation="sigmoid", epochs=1)
    model, meta = load_run(tmp_path / "run")
    assert meta.output == "sigmoid" and isinstance(model[-1], nn.Sigmoid) and meta.loss == "sse"
    _train(tmp_path, dataset="sum", hidden=(), epochs=1)
    model, meta = load_run(tmp_path / "run")
    assert meta.task == data.Task("regression", None, 1) and meta.class_names is None
    assert meta.layers == (2, 1) and [type(m).__name__ for m in model] == ["Dense"]
    _train(tmp_path, dataset="xor", epochs=1)
    assert load_run(tmp_path / "run").metadata.class_names == ("0", "1")


def test_a_checkpoint_without_run_metadata_is_refused_with_a_hint(tmp_path):
    nn.mlp([4, 10, 3], "tanh", rng=0).save(tmp_path / "model.npz")
    with pytest.raises(CheckpointError, match=r"model\.npz: no run metadata .*written by Module\.save"):
        load_run(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_run(tmp_path / "missing")


def _rewrite(path, change):
    """Rewrite the checkpoint at ``path`` with its metadata passed through ``change`` (the weights kept)."""
    meta = load_npz_metadata(path)
    assert meta is not None
    change(meta)
    save_npz(path, load_npz(path), metadata=meta)


def _set(key, value):
    def change(meta):
        meta[key] = value

    return change


def _drop(key):
    return lambda meta: meta.pop(key)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("format", "other"), "not a tinygrad_nn run \\(format 'other'"),
        (_set("version", FORMAT_VERSION + 1), "format version 2 is newer than this tinygrad_nn reads"),
        (_drop("layers"), "the field 'layers' is missing"),
        (_drop("standardization"), "the field 'standardization' is missing"),
        (_set("layers", [4, 10.5, 3]), "'layers' must be a list of integers >= 1"),
        (_set("layers", [4, 6, 5, 3]), "the weights do not fit the metadata's layers"),  # the same 83 weights
        (_set("layers", [4, 10**9, 3]), r"describes layers \[4, 1000000000, 3\] \(8,000,000,003 weights\)"),
        (_set("layers", [4, 10, 2]), "the task has 3 outputs but the last layer has width 2"),
        (_set("activation", "gelu"), "'activation' must be one of sigmoid, tanh, relu"),
        (_set("output", "softmax"), "'output' must be null or 'sigmoid'"),
        (_set("loss", "hinge"), "'loss' must be one of"),
        (_set("dataset", 3), "'dataset' must be one of iris"),
        (_set("task", {"kind": "ranking"}), "'task.kind' must be 'classification' or 'regression'"),
        (_set("task", {"kind": "classification", "classes": "abc"}), "'task.classes' must be a list"),
        (_set("task", {"kind": "regression"}), "the field 'task.targets' is missing"),
        (_set("standardization", {"mean": [0.0] * 4, "std": [1.0, 0.0, 1.0, 1.0]}), "positive stds"),
        (_set("standardization", {"mean": [0.0] * 3, "std": [1.0] * 3}), "needs 4 means and 4 positive"),
        (_set("standardization", {"mean": ["a"] * 4, "std": [1.0] * 4}), "'standardization.mean' must be"),
        (_set("epochs_completed", 99), r"'epochs_completed' \(99\) is more than 'epochs' \(2\)"),
        (_set("epochs", True), "'epochs' must be an integer >= 1, got True"),
        (_set("interrupted", "no"), "'interrupted' must be true or false"),
        (_set("run_id", ""), "'run_id' must be a non-empty string"),
        (_set("config", []), "'config' must be a JSON object"),
    ],
)
def test_missing_or_corrupt_metadata_is_a_checkpoint_error_naming_the_field(tmp_path, change, message):
    _train(tmp_path, epochs=2)
    path = tmp_path / "run" / "model.npz"
    _rewrite(path, change)
    with pytest.raises(CheckpointError, match=f"model\\.npz: .*{message}"):
        load_run(path)


def test_the_metadata_is_json_beside_the_weights_not_a_pickle(tmp_path):
    _train(tmp_path, epochs=1)
    path = tmp_path / "run" / "model.npz"
    with np.load(path, allow_pickle=False) as npz:
        raw = npz["__metadata__"]
    assert raw.dtype == np.uint8
    meta = json.loads(raw.tobytes().decode("utf-8"))
    assert meta["format"] == "tinygrad_nn run" and meta["layers"] == [4, 10, 3]
    assert set(load_npz(path)) == {"0.weight", "0.bias", "2.weight", "2.bias"}
