"""python -m tinygrad_nn gradcheck: the experiment's table, the eps sweep, exit codes, bad arguments."""

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_nn import backprop
from tinygrad_nn.cli import main

ROOT = Path(__file__).resolve().parent.parent


def rows(out: str) -> dict[str, list[str]]:
    """Table rows keyed by parameter name."""
    table = [line.split() for line in out.splitlines() if re.match(r"^\d+\.(weight|bias) ", line)]
    return {cells[0]: cells for cells in table}


def test_default_experiment_passes(capsys):
    assert main(["gradcheck"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("gradcheck: 4-10-3 network, tanh hidden units, tanh outputs")
    assert "max|autograd-delta|" in out and "max|autograd-FD|" in out
    table = rows(out)
    assert list(table) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert table["0.weight"][1:3] == ["(4,", "10)"]
    for cells in table.values():
        assert cells[-1] == "pass"
        assert float(cells[3]) < 1e-12 and float(cells[5]) < 1e-7  # |autograd - delta|, |autograd - FD|
    assert "all 4 parameters pass" in out


def test_options_change_the_experiment(capsys):
    argv = ["gradcheck", "--layers", "3,5,4,2", "--activation", "sigmoid", "--output-activation",
            "identity", "--batch", "3", "--seed", "7", "--reduction", "mean", "--method", "forward",
            "--eps", "1e-7"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "3-5-4-2 network, sigmoid hidden units, identity outputs" in out and "/ batch" in out
    assert "forward differences (eps=1e-07)" in out
    assert list(rows(out)) == ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def test_failing_finite_difference_check_exits_1(capsys):
    # No tolerance at all: finite differences are never exact.
    assert main(["gradcheck", "--atol", "0", "--rtol", "0"]) == 1
    out = capsys.readouterr().out
    assert "FAIL FD" in out and "4 of 4 parameters FAIL" in out


def test_wrong_closed_form_exits_1(capsys, monkeypatch):
    real = backprop.gradients

    def off_by_a_bit(*args, **kwargs):
        grads = real(*args, **kwargs)
        grads["2.bias"] = grads["2.bias"] * (1 + 1e-6)
        return grads

    monkeypatch.setattr(backprop, "gradients", off_by_a_bit)
    assert main(["gradcheck"]) == 1
    table = rows(capsys.readouterr().out)
    assert table["2.bias"][-2:] == ["FAIL", "delta"] and table["0.bias"][-1] == "pass"


def test_sweep_shows_truncation_versus_round_off(capsys):
    assert main(["gradcheck", "--sweep"]) == 0
    out = capsys.readouterr().out
    sweep = [line.split() for line in out.splitlines() if re.match(r"^1e-\d\d ", line)]
    assert [cells[0] for cells in sweep] == [f"1e-{k:02d}" for k in range(1, 13)]
    forward = np.array([float(c[1]) for c in sweep])
    central = np.array([float([x for x in c[1:] if x != "*"][1]) for c in sweep])
    # The V: error falls with eps (truncation), then rises again (round-off).
    for errs, best_range in ((forward, (1e-9, 1e-7)), (central, (1e-7, 1e-4))):
        best = int(np.argmin(errs))
        assert best_range[0] <= 10.0 ** -(best + 1) <= best_range[1]
        assert errs[0] > 100 * errs[best] and errs[-1] > 100 * errs[best]
    assert np.all(central[:3] < forward[:3] / 10)  # O(eps^2) beats O(eps) where truncation rules
    assert re.search(r"best eps: forward 1e-0[789], central 1e-0[4567]", out)


def test_plot_is_skipped_in_one_line_without_matplotlib(capsys, monkeypatch, tmp_path):
    real = importlib.import_module

    def no_matplotlib(name, *args):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", no_matplotlib)
    path = tmp_path / "sweep.png"
    assert main(["gradcheck", "--layers", "2,2", "--sweep", "--plot", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-1] == f"matplotlib is not installed: no plot written to {path}"
    assert not path.exists()


def test_plot_is_written_with_matplotlib(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "sweep.png"
    assert main(["gradcheck", "--layers", "2,2", "--sweep", "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["gradcheck", "--layers", "2,2", "--sweep", "--plot", str(tmp_path / "no" / "x.png")]) == 2


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gradcheck", "--layers", "4,x"], "invalid layer sizes '4,x'"),
        (["gradcheck", "--layers", "4"], "need at least an input and an output size"),
        (["gradcheck", "--layers", "4,0,3"], "positive integers"),
        (["gradcheck", "--layers", ""], "invalid layer sizes"),
        (["gradcheck", "--activation", "foo"], "invalid choice: 'foo'"),
        (["gradcheck", "--eps", "0"], "argument --eps: must be a positive finite number, got '0'"),
        (["gradcheck", "--eps=-1e-6"], "must be a positive finite number, got '-1e-6'"),
        (["gradcheck", "--eps", "-1e-6"], "argument --eps: expected one argument"),  # argparse: an option?
        (["gradcheck", "--eps", "abc"], "must be a positive finite number"),
        (["gradcheck", "--eps", "nan"], "must be a positive finite number"),
        (["gradcheck", "--atol", "-1"], "argument --atol: must be a finite number >= 0"),
        (["gradcheck", "--batch", "0"], "argument --batch: must be an integer >= 1, got '0'"),
        (["gradcheck", "--seed", "-1"], "argument --seed: must be an integer >= 0"),
        (["gradcheck", "--method", "backward"], "invalid choice: 'backward'"),
        (["gradcheck", "--plot", "x.png"], "--plot needs --sweep"),
        (["gradcheck", "--bogus"], "unrecognized arguments: --bogus"),
        ([], "the following arguments are required: COMMAND"),
        (["teleport"], "invalid choice: 'teleport'"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(capsys, argv, message):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and message in lines[0] and "error:" in lines[0]


def test_help_exits_0(capsys):
    assert main(["gradcheck", "--help"]) == 0
    assert "--layers" in capsys.readouterr().out


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "tinygrad_nn", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def test_python_dash_m_runs_the_experiment():
    ok = _run("gradcheck", "--layers", "3,4,2", "--batch", "2")
    assert ok.returncode == 0, ok.stderr
    assert "all 4 parameters pass" in ok.stdout and ok.stderr == ""
    bad = _run("gradcheck", "--layers", "4,x")
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and "Traceback" not in bad.stderr
