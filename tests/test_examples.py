"""The six tutorial examples run, and autograd agrees with each one's hand-written backprop.

Each runs in a subprocess, in its short mode (TINYGRAD_NN_QUICK=1) except the
digits example, which runs in full because its promise is a test accuracy of
at least 95%.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

_MAX_DIFF = re.compile(r"max \|autograd - by hand\| over [^:\n]*: (\S+)$", re.M)


def run_example(name: str, tmp_path: Path, *args: str, quick: bool = True) -> str:
    env = {**os.environ, "TINYGRAD_NN_QUICK": "1" if quick else "0", "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def agreement(out: str) -> float:
    """The example's final 'max |autograd - by hand| over ...' number."""
    found = _MAX_DIFF.findall(out)
    assert found, out
    return float(found[-1])


def test_tutorial1_iris(tmp_path):
    out = run_example("tutorial1_iris.py", tmp_path)
    assert agreement(out) < 1e-12
    accuracies = re.findall(r"^iter +\d+ +E = +\S+ +accuracy = +([\d.]+)%", out, re.M)
    assert len(accuracies) >= 10  # printed per iteration
    assert "cosine between the post's hidden-layer step and -∂E/∂W: -1.000" in out


def test_tutorial2_tanh_regression_starts_where_the_notes_start(tmp_path):
    out = run_example("tutorial2_tanh_regression.py", tmp_path)
    assert agreement(out) < 1e-12
    assert "targets [ 4. 29.  9.], first predictions [2.98367463 2.98009578 2.97574147]" in out
    assert "first mean squared error 238.120008" in out


def test_tutorial3_same_value(tmp_path):
    out = run_example("tutorial3_same_value.py", tmp_path)
    assert agreement(out) < 1e-12
    assert "4/4 correct" in out
    assert "∂L/∂syn0 autograd" in out and "by hand" in out


def test_tutorial4_sum_and_or(tmp_path):
    out = run_example("tutorial4_sum_and_or.py", tmp_path)
    assert agreement(out) < 1e-10
    assert "targets above 1: 50%" in out
    for line in ("0 OR 0 = 0", "0 OR 1 = 1", "1 OR 0 = 1", "1 OR 1 = 1"):
        assert line in out


def test_tutorial5_scalar_moons(tmp_path):
    picture = tmp_path / "boundary.png"
    out = run_example("tutorial5_scalar_moons.py", tmp_path, "--out", str(picture))
    assert agreement(out) < 1e-12
    assert "105 scalar parameters" in out
    if importlib.util.find_spec("matplotlib") is None:
        assert "matplotlib is not installed" in out and not picture.exists()
    else:
        assert picture.read_bytes().startswith(b"\x89PNG")


def test_tutorial6_digits_reaches_95_percent(tmp_path):
    out = run_example("tutorial6_digits.py", tmp_path, quick=False)
    assert agreement(out) < 1e-12
    accuracy = float(re.search(r"^test accuracy ([\d.]+)%", out, re.M).group(1))
    assert accuracy >= 95.0


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("tutorial*.py")))
def test_every_tutorial_example_explains_itself(name):
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    assert text.startswith('"""Tutorial ') and f"Run: python examples/{name}" in text
