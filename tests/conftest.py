"""Shared test configuration: hypothesis profiles.

``dev`` (the default) keeps the suite quick; ``ci`` (HYPOTHESIS_PROFILE=ci,
set by .ci/run) tries many more examples.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=40, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


import pytest  # noqa: E402

from tinygrad_nn._fast import switch  # noqa: E402


@pytest.fixture
def fast_path():
    """For tests of the fast path's own structure (fused nodes, records, the
    default runtime's printed output): run them with the fast path installed,
    even when the suite runs in reference mode (TINYGRAD_NN_REFERENCE=1)."""
    with switch.fast_mode():
        yield


@pytest.fixture
def reference_path():
    """Run a test on the reference path only."""
    from tinygrad_nn import reference_mode

    with reference_mode():
        yield


@pytest.fixture
def scalar_graph():
    """f = tanh(a·b + c) · a with its names: a small scalar graph in which a is used twice."""
    from tinygrad_nn import Value

    a, b, c = Value(2.0), Value(-3.0), Value(10.0)
    e = a * b
    d = e + c
    f = d.tanh() * a  # a is used twice: its gradient has two contributions
    return f, {"a": a, "b": b, "c": c, "e": e, "d": d, "f": f}


def _complete_run(path):
    """Check that the run directory ``path`` is complete and its files belong together; returns its metadata.

    The checkpoint loads with its metadata, ``metrics.json`` names the same
    run and records the SHA-256 of every other file present, and
    ``metrics.csv`` has one row per completed epoch.
    """
    import csv
    import hashlib
    import json

    from tinygrad_nn.train import load_run

    _, meta = load_run(path)
    summary = json.loads((path / "metrics.json").read_text(encoding="utf-8"))
    assert summary["run_id"] == meta.run_id
    assert summary["epochs_completed"] == meta.epochs_completed
    assert summary["interrupted"] == meta.interrupted
    others = sorted(p.name for p in path.iterdir() if p.name != "metrics.json")
    assert sorted(summary["sha256"]) == others
    for name, digest in summary["sha256"].items():
        assert hashlib.sha256((path / name).read_bytes()).hexdigest() == digest, name
    with (path / "metrics.csv").open(encoding="utf-8") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == list(range(1, meta.epochs_completed + 1))
    return meta


@pytest.fixture
def complete_run():
    """The check that a run directory is complete and consistent (see ``_complete_run``)."""
    return _complete_run
