"""``tinygrad-nn train`` on the command line: options, output, files, and one-line errors with exit code 2."""

from __future__ import annotations

import json
import os
import random
import re
import selectors
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tinygrad_nn.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _no_progress_bar(monkeypatch):
    monkeypatch.delenv("TINYGRAD_NN_PROGRESS", raising=False)


def test_train_with_defaults_prints_accuracies_and_the_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "iris (classification, 3 classes)" in out and "cross-entropy loss, adam lr 0.01" in out
    final = next(line for line in out.splitlines() if line.startswith("final:"))
    train_acc = float(final.split("train accuracy ")[1].split("%")[0])
    test_acc = float(final.split("test accuracy ")[1].split("%")[0])
    assert train_acc >= 95 and test_acc >= 85
    checkpoint = Path("runs") / "iris" / "model.npz"  # the default --out, relative to the working directory
    assert f"saved checkpoint to {checkpoint}" in out and (tmp_path / checkpoint).is_file()


def test_train_options_reach_the_run(tmp_path, capsys):
    out_dir = tmp_path / "moons-run"
    code = main([
        "train", "--dataset", "moons", "--hidden", "8,4", "--activation", "relu", "--loss", "mse",
        "--optimizer", "sgd", "--lr", "0.3", "--epochs", "7", "--batch-size", "32", "--seed", "3",
        "--out", str(out_dir), "--quiet",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "model 2-8-4-2 (relu, sigmoid outputs), mse loss, sgd lr 0.3, 7 epochs, batch 32" in out
    config = json.loads((out_dir / "metrics.json").read_text(encoding="utf-8"))["config"]
    assert config["hidden"] == [8, 4] and config["seed"] == 3 and config["batch_size"] == 32
    assert len((out_dir / "metrics.csv").read_text(encoding="utf-8").splitlines()) == 1 + 7


def test_hidden_none_trains_without_a_hidden_layer_and_names_no_activation(tmp_path, capsys):
    assert main(["train", "--hidden", "None", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert "; model 4-3, cross-entropy loss" in header and "tanh" not in header


def test_regression_dataset_reports_rmse_not_accuracy(tmp_path, capsys):
    assert main(["train", "--dataset", "sum", "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "regression, 1 target" in out and "mse loss" in out
    assert "RMSE" in out and "R²" in out and "accuracy" not in out


def test_progress_goes_to_stderr_without_quiet(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # plain lines, whether or not tqdm is installed
    assert main(["train", "--epochs", "3", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert [line.split()[1] for line in err.splitlines()] == ["1/3", "2/3", "3/3"]
    assert "epoch 1/3" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["--hidden", "10,x"], "argument --hidden: expected comma-separated positive integers like 10,10"),
        (["--hidden", "10,,10"], "argument --hidden: expected comma-separated positive integers"),
        (
            ["--hidden", ""],
            "argument --hidden: expected comma-separated positive integers like 10,10, or 'none'",
        ),
        (["--lr", "0"], "argument --lr: must be a positive finite number, got '0'"),
        (["--lr", "-0.5"], "argument --lr: must be a positive finite number"),
        (["--lr", "fast"], "argument --lr: must be a positive finite number, got 'fast'"),
        (["--epochs", "0"], "argument --epochs: must be an integer >= 1, got '0'"),
        (["--batch-size", "-2"], "argument --batch-size: must be an integer >= 1"),
        (["--activation", "gelu"], "argument --activation: invalid choice: 'gelu'"),
        (["--loss", "hinge"], "argument --loss: invalid choice: 'hinge'"),
        (["--optimizer", "lbfgs"], "argument --optimizer: invalid choice"),
        (["--dataset", "linear", "--loss", "cross-entropy"], "--loss: cross-entropy needs a classification"),
        (["--hidden", "99999999999999999999"], "--hidden: layer widths must be at most 100,000"),
        (["--hidden", "20000,20000"], "needs a weight matrix of more than 100,000,000 entries"),
    ],
)
def test_bad_input_is_one_line_on_stderr_with_exit_code_2(tmp_path, capsys, args, message):
    assert main(["train", *args, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("python -m tinygrad_nn train: error: ")
    assert message in err
    assert not (tmp_path / "run").exists()


def test_an_unwritable_out_is_exit_code_2(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--out", str(blocker / "sub"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out: cannot write to" in err and "Not a directory" in err


def test_a_diverging_run_is_exit_code_1_with_one_line(tmp_path, capsys):
    options = ["--dataset", "linear", "--optimizer", "sgd", "--lr", "1e4", "--quiet"]
    args = ["train", *options, "--out", str(tmp_path)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "training diverged; lower the learning rate" in err


def test_help_lists_the_options(capsys):
    assert main(["train", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--hidden", "--activation", "--loss", "--optimizer", "--lr", "--epochs",
                   "--batch-size", "--seed", "--out", "--quiet"):  # fmt: skip
        assert option in text


def test_python_dash_m_runs_train_in_a_subprocess(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tinygrad_nn", "train", "--epochs", "5", "--quiet", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "final: train accuracy" in done.stdout and "test accuracy" in done.stdout
    assert (tmp_path / "model.npz").is_file() and (tmp_path / "metrics.csv").is_file()


def test_an_empty_out_is_an_error_not_the_working_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--out", "", "--epochs", "1", "--quiet"]) == 2
    _, err = capsys.readouterr()
    assert "--out: expected a directory for the run, got an empty path" in err
    assert list(tmp_path.iterdir()) == []


posix_only = pytest.mark.skipif(os.name != "posix", reason="sends SIGINT to a child process")


def _start_train(args, out_dir):
    """``python -m tinygrad_nn train ARGS --out OUT_DIR`` in a subprocess, with plain progress lines."""
    return subprocess.Popen(
        [sys.executable, "-m", "tinygrad_nn", "train", *args, "--out", str(out_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "TINYGRAD_NN_PROGRESS": "plain"},
        # A test runner started in the background ignores SIGINT, and children inherit that: restore it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_line(stream, timeout: float = 60.0) -> str:
    """The next line of a child's pipe, waiting at most ``timeout`` seconds for it."""
    with selectors.DefaultSelector() as sel:
        sel.register(stream, selectors.EVENT_READ)
        assert sel.select(timeout), f"no output within {timeout} s"
    return stream.readline()


def _interrupt(child) -> tuple[str, str]:
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return out, err


@posix_only
def test_ctrl_c_saves_the_last_completed_epoch_and_exits_130_with_one_line(tmp_path, complete_run):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    previous = complete_run(run)
    child = _start_train(["--epochs", "100000"], run)
    first = _wait_for_line(child.stderr)  # epoch 1 is done (and saved in memory)
    assert first.startswith("epoch      1/100000  loss ")
    _, err = _interrupt(child)
    assert child.returncode == 130, err
    lines = err.splitlines()
    assert all(line.startswith("epoch ") for line in lines[:-1]) and "Traceback" not in err
    done = re.fullmatch(
        rf"python -m tinygrad_nn train: interrupted in epoch (\d+)/100000: saved the run as of epoch (\d+) "
        rf"to {re.escape(str(run))}",
        lines[-1],
    )
    assert done, lines[-1]
    meta = complete_run(run)
    assert meta.interrupted and meta.epochs == 100000 and meta.run_id != previous.run_id
    assert meta.epochs_completed == int(done[2]) == int(done[1]) - 1 >= 1
    assert json.loads((run / "metrics.json").read_text(encoding="utf-8"))["interrupted"] is True
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


@posix_only
def test_ctrl_c_before_the_first_epoch_keeps_the_previous_run_and_exits_130(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # Epoch 1 of a 64-2000-2000-10 network takes seconds: the Ctrl-C lands well inside it.
    child = _start_train(["--dataset", "digits", "--hidden", "2000,2000", "--epochs", "2"], run)
    assert _wait_for_line(child.stdout).startswith("digits (classification, 10 classes)")
    _, err = _interrupt(child)
    assert child.returncode == 130, err
    assert err == (
        f"python -m tinygrad_nn train: interrupted in epoch 1/2: no epoch completed, nothing saved "
        f"({run} keeps the previous run)\n"
    )
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


@posix_only
def test_ctrl_c_at_random_moments_always_leaves_a_complete_run(tmp_path, complete_run):
    run = tmp_path / "run"
    assert main(["train", "--dataset", "xor", "--epochs", "1", "--quiet", "--out", str(run)]) == 0
    seen = [complete_run(run).run_id]
    rng = random.Random(130)
    outcomes = set()
    for _ in range(6):
        child = _start_train(["--dataset", "xor", "--epochs", "40", "--quiet"], run)
        assert _wait_for_line(child.stdout).startswith("xor (classification, 2 classes)")
        threading.Event().wait(rng.uniform(0.0, 0.25))  # the whole run takes about that long
        _, err = _interrupt(child)
        meta = complete_run(run)
        if child.returncode == 0:  # it had finished: the Ctrl-C came too late to matter
            outcomes.add("finished")
            assert err == "" and meta.epochs_completed == 40 and meta.run_id not in seen
        else:
            assert child.returncode == 130 and err.count("\n") == 1 and "Traceback" not in err, err
            saved = re.search(r"saved the run as of epoch (\d+)|the complete run \((40)/40", err)
            if saved:
                outcomes.add("saved")
                assert meta.run_id not in seen and meta.epochs_completed == int(saved[1] or saved[2])
            else:
                outcomes.add("nothing")
                assert "nothing saved" in err and meta.run_id == seen[-1]
        seen.append(meta.run_id)
    assert "saved" in outcomes


@posix_only
def test_a_ctrl_c_while_python_shuts_down_after_a_complete_run_is_ignored(tmp_path, complete_run):
    # The program's own entry (main() on sys.argv), with a Ctrl-C arriving as the interpreter exits.
    code = (
        "import atexit, os, signal, sys, time\n"
        "from tinygrad_nn.cli import main\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(0.05)))\n"
        f"sys.argv = ['tinygrad-nn', 'train', '--epochs', '2', '--quiet', '--out', {str(tmp_path)!r}]\n"
        "raise SystemExit(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "final: train accuracy" in done.stdout and complete_run(tmp_path).epochs_completed == 2
