"""The benchmark suite runs: a tiny ``--smoke`` run writes well-formed JSON and its checks pass.

No timing is asserted (timings belong to the machine); what is asserted is the
structure of the results and the correctness checks the suite makes before
timing: the library's training step gives the same parameters as the
hand-written numpy step, gradients agree, graphs leave no cycles.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
SECTIONS = {"mlp", "scalar", "chain", "perop", "gradcheck", "memory"}


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # -W error: the suite must be warning-free, like the rest of the project.
    return subprocess.run(
        [sys.executable, "-W", "error", str(RUN), *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "smoke.json"
    proc = _run("--quick", "--smoke", "--json", str(path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    result = json.loads(path.read_text())
    result["_stdout"] = proc.stdout
    return result


def _valid_stats(s: dict[str, Any]) -> bool:
    return 0 < s["min_s"] <= s["median_s"] <= s["max_s"] and s["repeats"] >= 1 and s["number"] >= 1


def test_smoke_run_has_every_section_and_the_json_layout(smoke: dict[str, Any]) -> None:
    assert {"meta", "sections", "checks", "targets"} <= set(smoke)
    assert set(smoke["sections"]) == SECTIONS
    meta = smoke["meta"]
    assert meta["mode"] == "smoke" and meta["peers"] is False
    assert meta["env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert "Targets (issue 6)" in smoke["_stdout"]


def test_every_correctness_check_passes(smoke: dict[str, Any]) -> None:
    checks = smoke["checks"]
    failed = [c for c in checks if not c["passed"]]
    assert not failed, failed
    names = {c["name"] for c in checks}
    for key in "abcd":
        for dtype in ("float64", "float32"):
            assert f"mlp {key} {dtype}: ours == numpy after one step" in names
    assert "gradcheck: ours gradcheck_module passes" in names
    assert "perop matmul: gradients == by hand" in names


def test_mlp_rows_cover_the_four_workloads_in_both_dtypes(smoke: dict[str, Any]) -> None:
    rows = smoke["sections"]["mlp"]["rows"]
    assert sorted((r["workload"], r["dtype"]) for r in rows) == sorted(
        (k, d) for k in "abcd" for d in ("float64", "float32")
    )
    for r in rows:
        assert _valid_stats(r["ours"]) and _valid_stats(r["numpy"])
        ratio = r["ours_over_numpy"]
        assert ratio["median"] == pytest.approx(r["ours"]["median_s"] / r["numpy"]["median_s"])
        assert ratio["min"] <= ratio["max"]


def test_targets_are_well_formed(smoke: dict[str, Any]) -> None:
    targets = smoke["targets"]
    assert {t["section"] for t in targets} >= {"mlp", "perop", "gradcheck", "memory"}
    for t in targets:
        assert t["direction"] in ("<=", ">=")
        assert t["status"] == {True: "MET", False: "MISSED", None: "n/a"}[t["met"]]
        if t["value"] is not None:
            holds = t["value"] <= t["limit"] if t["direction"] == "<=" else t["value"] >= t["limit"]
            assert t["met"] is holds
    # Without peers the micrograd comparison is reported as not measured, not as missed.
    scalar = [t for t in targets if t["section"] == "scalar"]
    assert scalar and all(t["met"] is None for t in scalar)


def test_memory_section_reports_growth_and_cycles(smoke: dict[str, Any]) -> None:
    mem = smoke["sections"]["memory"]
    growth = mem["growth"]
    marks = {int(k): v for k, v in growth["traced_after_step"].items()}
    assert growth["growth"] == marks[growth["steps"]] - marks[10]
    assert set(mem["cycles"]) >= {"(a) MLP step", "(b) MLP step", "scalar MLP step"}
    assert all(isinstance(v, int) and v >= 0 for v in mem["cycles"].values())
    assert len(mem["peak_one_step"]) == 8
    assert all(p["numpy"] > 0 and p["ours"] > 0 for p in mem["peak_one_step"])


def test_chain_and_scalar_sections(smoke: dict[str, Any]) -> None:
    chain = smoke["sections"]["chain"]["rows"]
    assert [r["n"] for r in chain] == [1000, 10000]
    assert all(_valid_stats(r["backward_per_node"]) and r["peak_traced_bytes"] > 0 for r in chain)
    scalar = smoke["sections"]["scalar"]
    assert scalar["nodes_ours"] > 100 * scalar["points"]  # one node per multiply and add
    assert _valid_stats(scalar["ours (Module API)"])


def test_unknown_section_is_refused() -> None:
    proc = _run("--only", "mlp,nope", timeout=120)
    assert proc.returncode == 2
    assert "nope" in proc.stderr


def test_profile_prints_the_top_functions() -> None:
    proc = _run("--profile", "a", "--profile-steps", "3", "--top", "5", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "cProfile of 3 steps" in proc.stdout and "function calls" in proc.stdout


def test_harness_target_and_ratio() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks.harness import Stats, Target, fmt_stats, ratio

    a, b = Stats((2.0, 4.0, 3.0), 1), Stats((1.0, 1.0, 2.0), 1)
    r = ratio(a, b)
    assert r == {"median": 3.0, "min": 1.5, "max": 4.0, "of_mins": 2.0}
    assert fmt_stats(Stats((1.5e-6, 1e-6, 2e-6), 10)) == "1.50 [1.00-2.00] us"
    assert Target("s", "t", 1.2, 1.3, "<=", "x").status == "MET"
    assert Target("s", "t", 1.4, 1.3, "<=", "x").status == "MISSED"
    assert Target("s", "t", 9.0, 10.0, ">=", "x").status == "MISSED"
    assert Target("s", "t", None, 10.0, ">=", "x").status == "n/a"
