#!/usr/bin/env python3
"""The tinygrad_nn benchmark suite: one entry point, ratios measured in the same run.

    python benchmarks/run.py                  # full run (several minutes)
    python benchmarks/run.py --quick          # shorter repeats (about 1-2 minutes)
    python benchmarks/run.py --only mlp,perop # some sections: mlp scalar chain perop gradcheck memory
    python benchmarks/run.py --json out.json  # where the JSON goes (default benchmarks/last_run.json)
    python benchmarks/run.py --profile a      # phase times + cProfile of our step (a b c d scalar chain)

Sections (see README.md here): 1 mlp, 2 scalar, 3 chain, 4 perop, 5 gradcheck, 6 memory.
BLAS runs on one thread: the thread variables are set before numpy is
imported. Exit status 1 when a correctness check failed (never for a
missed target: this is a measuring instrument).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Before numpy is imported anywhere: one BLAS thread, so the ratios compare
# the same work rather than how each library uses the cores.
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")
for _var in THREAD_VARS:
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # benchmark the working tree, whatever is installed

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import tinygrad_nn  # noqa: E402
from benchmarks import harness, reference, workloads  # noqa: E402
from benchmarks.harness import Stats, Target, fmt_bytes, fmt_ratio, fmt_stats, fmt_time, table  # noqa: E402
from tinygrad_nn import Value, nn, optim  # noqa: E402

SECTIONS = ("mlp", "scalar", "chain", "perop", "gradcheck", "memory")
DTYPES = (np.float64, np.float32)
RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}

# The targets (ratios against the hand-written numpy step, same run).
MLP_LIMITS = {"a": 1.3, "b": 1.3, "c": 1.05, "d": 1.3}
SCALAR_GC_ON_LIMIT = 10.0  # micrograd (GC on) / ours >= 10
SCALAR_GC_OFF_LIMIT = 1.0  # micrograd (GC off) / ours >= 1
CHAIN_NS_PER_NODE = 1e-6  # backward of the 10^6 chain, per node
ADD_FWD_LIMIT = 3.0  # ours / raw numpy
OP_FWD_BWD_LIMIT = 15e-6  # add and matmul forward+backward on 4x4
GRADCHECK_LIMIT = 1.0  # ours / plain numpy loop
GROWTH_LIMIT = 64 * 1024  # traced bytes gained between step 10 and the last step
PEAK_LIMIT = 1.5  # peak of one step, ours / hand-written


@dataclass(frozen=True)
class Config:
    """How long to measure: ``full``, ``quick`` or ``smoke`` (the test suite's seconds-long run)."""

    mode: str
    peers: bool

    def pick(self, full: Any, quick: Any, smoke: Any) -> Any:
        return {"full": full, "quick": quick, "smoke": smoke}[self.mode]


class Report:
    """Collects sections, correctness checks and targets; prints as it goes."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.sections: dict[str, Any] = {}
        self.checks: list[dict[str, Any]] = []
        self.targets: list[Target] = []

    def check(self, name: str, passed: bool, detail: str) -> None:
        self.checks.append({"name": name, "passed": bool(passed), "detail": detail})
        if not passed:
            print(f"  CHECK FAILED: {name}: {detail}", flush=True)

    def target(self, t: Target) -> Target:
        self.targets.append(t)
        return t

    def as_dict(self, meta: dict[str, Any]) -> dict[str, Any]:
        return {
            "meta": meta,
            "sections": self.sections,
            "checks": self.checks,
            "targets": [t.as_dict() for t in self.targets],
        }


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def cell(t: Target | None) -> str:
    return "-" if t is None else f"{t.describe_limit()} {t.status}"


# ---------------------------------------------------------------------------
# 1. MLP training step
# ---------------------------------------------------------------------------


def section_mlp(cfg: Config, rep: Report) -> None:
    heading("1. MLP training step (forward, sse loss, backward, SGD): per-step median [min-max]")
    repeats = cfg.pick(15, 5, 2)
    block = cfg.pick(0.05, 0.015, 0.002)
    torch_version = workloads.torch_available() if cfg.peers else None
    rows, printed = [], []
    reference_rows: list[dict[str, Any]] = []
    for spec in workloads.MLP_SPECS.values():
        for dtype in DTYPES:
            dt = np.dtype(dtype)
            label = f"{spec.key} {dt.name}"
            x, t = workloads.mlp_data(spec, dt)
            model, opt = workloads.build_ours(spec, dt)
            layers = workloads.dense_layers(model)
            ref = reference.NumpyMLP(layers, spec.activations, spec.lr)
            peer = workloads.TorchMLP(spec, layers, dt) if torch_version else None
            fns: dict[str, Callable[[], Any]] = {
                "numpy": functools.partial(ref.step, x, t),
                "ours": workloads.our_step(model, opt, x, t),
            }
            if peer is not None:
                fns["torch"] = peer.step_fn(x, t)

            # One step each from the same weights: the parameters must agree.
            for fn in fns.values():
                fn()
            want = ref.parameters()
            rtol = RTOL[dt]
            err = workloads.max_param_error(workloads.our_parameters(model), want, rtol)
            rep.check(
                f"mlp {label}: ours == numpy after one step", err <= 1.0, f"error {err:.3g} x rtol {rtol}"
            )
            if peer is not None:
                err_t = workloads.max_param_error(peer.parameters(), want, rtol)
                rep.check(
                    f"mlp {label}: torch == numpy after one step",
                    err_t <= 1.0,
                    f"error {err_t:.3g} x rtol {rtol}",
                )

            stats = harness.measure(fns, repeats, block)
            if cfg.mode != "smoke":
                reference_rows.append(_reference_row(spec, dt, x, t, fns["numpy"], stats, repeats, block))
            finite = all(np.isfinite(p).all() for p in workloads.our_parameters(model) + ref.parameters())
            rep.check(
                f"mlp {label}: parameters still finite after timing", finite, "training did not diverge"
            )
            r_np = harness.ratio(stats["ours"], stats["numpy"])
            r_t = harness.ratio(stats["ours"], stats["torch"]) if "torch" in stats else None
            t_np = rep.target(
                Target(
                    "mlp",
                    f"{label}: ours / numpy",
                    r_np["median"],
                    MLP_LIMITS[spec.key],
                    "<=",
                    "x",
                    best=r_np["of_mins"],
                )
            )
            t_t = (
                rep.target(
                    Target(
                        "mlp", f"{label}: ours / torch", r_t["median"], 1.0, "<=", "x", best=r_t["of_mins"]
                    )
                )
                if r_t
                else None
            )
            rows.append(
                {
                    "workload": spec.key,
                    "title": spec.title,
                    "dtype": dt.name,
                    "lr": spec.lr,
                    **{name: s.as_dict() for name, s in stats.items()},
                    "ours_over_numpy": r_np,
                    "ours_over_torch": r_t,
                    "torch_over_numpy": harness.ratio(stats["torch"], stats["numpy"]) if r_t else None,
                }
            )
            printed.append(
                [
                    spec.title if dt == np.float64 else "",
                    dt.name,
                    fmt_stats(stats["numpy"]),
                    fmt_stats(stats["ours"]),
                    fmt_stats(stats.get("torch")),
                    fmt_ratio(r_np),
                    cell(t_np),
                    fmt_ratio(r_t),
                    cell(t_t),
                ]
            )
    print(
        table(
            [
                "workload",
                "dtype",
                "numpy (hand)",
                "ours",
                "torch",
                "ours/numpy",
                "target",
                "ours/torch",
                "target",
            ],
            printed,
        )
    )
    if cfg.peers and torch_version is None:
        print("  (torch not importable: no PyTorch column)")
    if reference_rows:
        _print_reference_rows(reference_rows)
    rep.sections["mlp"] = {
        "torch": torch_version,
        "repeats": repeats,
        "rows": rows,
        "reference": reference_rows,
    }


def _reference_row(
    spec: Any, dt: np.dtype[Any], x: Any, t: Any, numpy_step: Callable[[], Any],
    fast: dict[str, Stats], repeats: int, block: float,
) -> dict[str, Any]:  # fmt: skip
    """The same step with every trick of tinygrad_nn/_fast switched off (reference_mode),
    timed against the hand-written step again: what the fast path buys."""
    model, opt = workloads.build_ours(spec, dt)
    with tinygrad_nn.reference_mode():
        step = workloads.our_step(model, opt, x, t)
        stats = harness.measure({"numpy": numpy_step, "reference": step}, repeats, block)
    # The same step inside detect_anomaly() (which runs the reference path and checks
    # every op's result): what the checks cost while on. Off, they cost nothing on the
    # fast path, which has none, and one counter read per op on the reference path.
    with tinygrad_nn.detect_anomaly():
        checked = harness.measure({"numpy": numpy_step, "anomaly": step}, repeats, block)
    r_ref = harness.ratio(stats["reference"], stats["numpy"])
    r_anomaly = harness.ratio(checked["anomaly"], checked["numpy"])
    r_fast = harness.ratio(fast["ours"], fast["numpy"])
    return {
        "workload": spec.key, "title": spec.title, "dtype": dt.name,
        "reference": stats["reference"].as_dict(), "fast": fast["ours"].as_dict(),
        "anomaly": checked["anomaly"].as_dict(),
        "reference_over_numpy": r_ref, "fast_over_numpy": r_fast, "anomaly_over_numpy": r_anomaly,
        "reference_over_fast": r_ref["median"] / r_fast["median"],
    }  # fmt: skip


def _print_reference_rows(rows: list[dict[str, Any]]) -> None:
    print("\n  reference mode (tinygrad_nn.reference_mode(): the code a reader reads, no fast path),"
          " and the step inside detect_anomaly()")  # fmt: skip
    printed = [
        [r["title"] if r["dtype"] == "float64" else "", r["dtype"],
         *(fmt_time(r[k]["median_s"]) for k in ("fast", "reference", "anomaly")),
         f"{r['fast_over_numpy']['median']:.2f}x", f"{r['reference_over_numpy']['median']:.2f}x",
         f"{r['anomaly_over_numpy']['median']:.2f}x", f"{r['reference_over_fast']:.2f}x"]
        for r in rows
    ]  # fmt: skip
    print(table(["workload", "dtype", "fast", "reference", "anomaly", "fast/numpy", "reference/numpy",
                 "anomaly/numpy", "reference/fast"], printed))  # fmt: skip


# ---------------------------------------------------------------------------
# 2. Scalar MLP
# ---------------------------------------------------------------------------


def section_scalar(cfg: Config, rep: Report) -> None:
    n_points = cfg.pick(100, 100, 10)
    heading(f"2. Scalar MLP 2-16-16-1 on {n_points} moons points (micrograd's demo step): per-step time")
    rows, ys = workloads.scalar_data(n_points)
    lr = 0.05
    model, source = workloads.build_scalar_module()
    weights = [float(p.data) for p in workloads.scalar_parameters(model)]
    plain = workloads.PlainScalarMLP(weights)
    loss_mod, step_mod = workloads.scalar_steps(model, model.parameters, rows, ys, lr)
    loss_plain, step_plain = workloads.scalar_steps(plain, plain.parameters, rows, ys, lr)
    mg_version = workloads.micrograd_available() if cfg.peers else None
    mg = workloads.MicrogradMLP(weights) if mg_version else None

    nodes = workloads.count_nodes(loss_mod(), lambda v: v.inputs)
    result: dict[str, Any] = {
        "points": n_points,
        "model": source,
        "micrograd": mg_version,
        "nodes_ours": nodes,
    }
    fns: dict[str, Callable[[], Any]] = {
        "ours (Module API)": step_mod,
        "ours (plain Values)": step_plain,
        "ours (Module API, GC off)": step_mod,  # not a target: shows what the collector costs us
        "ours (Module API, reference mode)": step_mod,  # not a target: what the fast path buys
    }
    loss_values = {"ours (Module API)": loss_mod().item(), "ours (plain Values)": loss_plain().item()}
    if mg is not None:
        loss_mg, step_mg = mg.steps(rows, ys, lr)
        result["nodes_micrograd"] = workloads.count_nodes(loss_mg(), lambda v: v._prev)
        loss_values["micrograd"] = loss_mg().data
        fns["micrograd (GC on)"] = step_mg
        fns["micrograd (GC off)"] = step_mg

    # Same weights, same arithmetic in the same order: losses and one step agree to rounding.
    want = loss_values["ours (Module API)"]
    for name, value in loss_values.items():
        rep.check(
            f"scalar: loss of {name} == ours",
            math.isclose(value, want, rel_tol=1e-12),
            f"{value!r} vs {want!r}",
        )
    step_mod()
    after = [float(p.data) for p in workloads.scalar_parameters(model)]
    others = {"ours (plain Values)": (step_plain, lambda: [float(p.data) for p in plain.parameters()])}
    if mg is not None:
        others["micrograd"] = (fns["micrograd (GC on)"], mg.parameters)
    for name, (step, params) in others.items():
        step()
        err = workloads.max_param_error([np.array(params())], [np.array(after)], 1e-12)
        rep.check(f"scalar: {name} == ours after one step", err <= 1.0, f"error {err:.3g} x rtol 1e-12")

    # Timed in fresh interpreters (benchmarks/scalar_worker.py), one per row,
    # interleaved block by block: blocks of back-to-back steps, as a training
    # loop runs them, with nothing else in the heap for the collector to walk.
    repeats, per_block = cfg.pick(5, 3, 1), cfg.pick(4, 2, 1)
    workers = {name: WORKER_ROWS[name] for name in fns}
    stats = time_in_workers(workers, n_points, repeats, per_block)
    result["timing"] = (
        f"{repeats} blocks of {per_block} back-to-back steps per row, each row in a fresh interpreter "
        "(benchmarks/scalar_worker.py); a block's time is its mean step"
    )
    ours = stats["ours (Module API)"]
    printed = []
    for name, st in stats.items():
        printed.append(
            [name, fmt_stats(st), f"{st.median / nodes * 1e9:.0f} ns" if name.startswith("ours") else "",
             fmt_ratio(harness.ratio(st, ours))]
        )  # fmt: skip
    print(table(["implementation", "time per step", "per node (ours)", "vs ours (Module API)"], printed))
    print(f"  nodes per step: ours {nodes:,} (constants are not nodes)", end="")
    if "nodes_micrograd" in result:
        print(f", micrograd {result['nodes_micrograd']:,} (inputs and constants are Values)")
    else:
        print()
    print(f"  model: {source}")
    print(f"  timing: {result['timing']}")
    result.update({name: st.as_dict() for name, st in stats.items()})
    for name, limit in (
        ("micrograd (GC on)", SCALAR_GC_ON_LIMIT),
        ("micrograd (GC off)", SCALAR_GC_OFF_LIMIT),
    ):
        r = harness.ratio(stats[name], ours) if name in stats else None
        value, best = (r["median"], r["of_mins"]) if r else (None, None)
        note = "" if r else "micrograd not installed (pip install micrograd==0.1.0)"
        t = rep.target(
            Target("scalar", f"scalar MLP: {name} / ours (Module API)", value, limit, ">=", "x", note, best)
        )
        print(f"  {t.name}: {t.describe_value()}  target {cell(t)}")
    rep.sections["scalar"] = result


# Section 2's rows: (scalar_worker implementation, GC "on" or "off").
WORKER_ROWS = {
    "ours (Module API)": ("module", "on"),
    "ours (plain Values)": ("plain", "on"),
    "ours (Module API, GC off)": ("module", "off"),
    "ours (Module API, reference mode)": ("module-reference", "on"),
    "micrograd (GC on)": ("micrograd", "on"),
    "micrograd (GC off)": ("micrograd", "off"),
}


def time_in_workers(
    rows: dict[str, tuple[str, str]], points: int, repeats: int, per_block: int
) -> dict[str, Stats]:
    """Time each row in a scalar_worker process of its own, interleaving blocks
    of ``per_block`` steps (A B C, B C A, ...) after one untimed block each."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    procs: dict[str, subprocess.Popen[str]] = {}

    def ask(name: str, command: str) -> dict[str, Any]:
        proc = procs[name]
        assert proc.stdin is not None and proc.stdout is not None
        if command:
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            err = proc.stderr.read() if proc.stderr else ""
            raise RuntimeError(f"scalar worker for {name!r} exited: {err.strip()[-2000:]}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"scalar worker for {name!r}: {reply['error']}")
        return reply

    try:
        for name, (implementation, gc_mode) in rows.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.scalar_worker", implementation, str(points), gc_mode],
                cwd=ROOT, env=env, text=True,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
        for name in rows:
            ask(name, "")  # the ready line
            ask(name, f"run {per_block}")  # warm-up block
        times: dict[str, list[float]] = {name: [] for name in rows}
        names = list(rows)
        for r in range(repeats):
            # Rotate the order each repeat: a block runs slower right after some
            # others (micrograd's GC-off block ends by collecting hundreds of MB).
            for name in names[r % len(names) :] + names[: r % len(names)]:
                times[name].append(ask(name, f"run {per_block}")["seconds"] / per_block)
    finally:
        for proc in procs.values():
            with contextlib.suppress(OSError):
                if proc.stdin:
                    proc.stdin.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
    return {name: Stats(tuple(ts), per_block) for name, ts in times.items()}


# ---------------------------------------------------------------------------
# 3. Chains of scalar ops
# ---------------------------------------------------------------------------


def _chain_rss(n: int) -> int | None:
    """Peak resident memory added by building and backpropagating an n-chain, in a fresh interpreter.

    Linux only: VmHWM (the high-water mark of the resident set) is reset
    through /proc/self/clear_refs just before building, and compared with
    VmRSS at that moment. (``ru_maxrss`` would not do: it keeps the transient
    peak of the imports and even the parent's size at fork.)
    """
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from benchmarks.workloads import chain\n"
        "def status(key):\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith(key + ':'):\n"
        "            return int(line.split()[1]) * 1024\n"
        "open('/proc/self/clear_refs', 'w').write('5')\n"
        "r0 = status('VmRSS')\n"
        f"x, y = chain({n})\n"
        "y.backward()\n"
        "print(r0, status('VmHWM'))\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
        ).stdout.split()
    except (subprocess.SubprocessError, OSError):
        return None  # not Linux, or it failed: the column shows "-"
    return int(out[1]) - int(out[0])


def section_chain(cfg: Config, rep: Report) -> None:
    heading("3. Chains y = y * c of n scalar ops: time per node (GC on unless noted) and peak memory")
    sizes = cfg.pick((10**4, 10**5, 10**6), (10**4, 10**5, 10**6), (10**3, 10**4))
    rows, printed = [], []
    for n in sizes:
        repeats = max(1, cfg.pick(int(2e5 // n) + 2, int(4e4 // n) + 1, 2))
        times: dict[str, list[float]] = {"forward": [], "forward_gc_off": [], "backward": [], "free": []}
        ok = True
        for _ in range(repeats):
            gc.collect()
            t0 = time.perf_counter()
            x, y = workloads.chain(n)
            t1 = time.perf_counter()
            y.backward()
            t2 = time.perf_counter()
            ok = ok and math.isclose(x.grad, workloads.CHAIN_FACTOR**n, rel_tol=1e-9)
            del y  # frees the chain
            t3 = time.perf_counter()
            del x
            gc.collect()
            gc.disable()  # the same forward without the collector: its share of the time above
            try:
                t4 = time.perf_counter()
                x, y = workloads.chain(n)
                t5 = time.perf_counter()
            finally:
                gc.enable()
            del x, y
            for key, dt in (
                ("forward", t1 - t0),
                ("backward", t2 - t1),
                ("free", t3 - t2),
                ("forward_gc_off", t5 - t4),
            ):
                times[key].append(dt / n)
        rep.check(f"chain {n}: x.grad == c^n", ok, "dy/dx of the chain")
        traced = None
        if n <= 10**5:  # tracemalloc slows allocation several-fold: too slow for 10^6
            gc.collect()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            x, y = workloads.chain(n)
            y.backward()
            traced = tracemalloc.get_traced_memory()[1] - base
            del x, y
            tracemalloc.stop()
        rss = _chain_rss(n) if n >= 10**5 else None
        st = {key: Stats(tuple(ts), n) for key, ts in times.items()}
        rows.append(
            {
                "n": n,
                **{f"{key}_per_node": s.as_dict() for key, s in st.items()},
                "peak_traced_bytes": traced,
                "peak_rss_bytes": rss,
            }
        )
        per = [f"{fmt_bytes(v)} ({v / n:.0f} B/node)" if v is not None else "-" for v in (traced, rss)]
        t = None
        if n == 10**6:
            t = rep.target(
                Target(
                    "chain",
                    "chain 10^6: backward per node",
                    st["backward"].median,
                    CHAIN_NS_PER_NODE,
                    "<=",
                    "s",
                    best=st["backward"].min,
                )
            )
        printed.append(
            [
                f"{n:,}",
                *(fmt_stats(st[k]) for k in ("forward", "forward_gc_off", "backward", "free")),
                *per,
                cell(t),
            ]
        )
    headers = ["nodes", "forward/node", "fwd/node GC off", "backward/node", "free/node"]
    headers += ["peak (tracemalloc)", "peak RSS (subprocess)", "target (bwd 10^6)"]
    print(table(headers, printed))
    if all(n < 10**6 for n in sizes):
        rep.target(
            Target("chain", "chain 10^6: backward per node", None, CHAIN_NS_PER_NODE, "<=", "s", "not run")
        )
    rep.sections["chain"] = {"factor": workloads.CHAIN_FACTOR, "rows": rows}


# ---------------------------------------------------------------------------
# 4. Per-op overhead
# ---------------------------------------------------------------------------


class _CreateGraph:
    """Wraps a Value so that ``.backward(g)`` builds a differentiable gradient."""

    def __init__(self, v: Value) -> None:
        self.v = v

    def backward(self, g: Any) -> None:
        self.v.backward(g, create_graph=True)


def section_perop(cfg: Config, rep: Report) -> None:
    heading("4. Per-op overhead on 4x4 float64 arrays (GC on)")
    gen = np.random.default_rng(0)
    a, b = gen.standard_normal((4, 4)), gen.standard_normal((4, 4))
    g = np.ones((4, 4))
    va, vb = Value(a), Value(b)

    def ours_fb(op: Callable[[Any, Any], Any]) -> Callable[[], None]:
        def run() -> None:
            va.grad = None
            vb.grad = None
            op(va, vb).backward(g)

        return run

    def add_by_hand() -> tuple[Any, Any, Any]:
        return a + b, g.copy(), g.copy()  # leaf gradients must not alias the seed

    def matmul_by_hand() -> tuple[Any, Any, Any]:
        return a @ b, g @ b.T, a.T @ g

    add = lambda p, q: p + q
    matmul = lambda p, q: p @ q
    fns: dict[str, Callable[[], Any]] = {
        "add fwd: numpy": lambda: a + b,
        "add fwd: ours": lambda: va + vb,
        "add fwd+bwd: numpy by hand": add_by_hand,
        "add fwd+bwd: ours": ours_fb(add),
        "matmul fwd: numpy": lambda: a @ b,
        "matmul fwd: ours": lambda: va @ vb,
        "matmul fwd+bwd: numpy by hand": matmul_by_hand,
        "matmul fwd+bwd: ours": ours_fb(matmul),
        # The recorded (differentiable) backward of issue 7 runs the same rules on Values;
        # the first-order path above never enters it, so its cost is shown for contrast only.
        "matmul fwd+bwd: create_graph=True": ours_fb(lambda p, q: _CreateGraph(p @ q)),
    }
    for name, op, hand in (("add", add, add_by_hand), ("matmul", matmul, matmul_by_hand)):
        ours_fb(op)()
        _, ga, gb = hand()
        ok = np.allclose(va.grad, ga, rtol=1e-12, atol=0) and np.allclose(vb.grad, gb, rtol=1e-12, atol=0)
        rep.check(f"perop {name}: gradients == by hand", ok, "dE/da, dE/db for grad g = ones")
    stats = harness.measure(fns, cfg.pick(21, 7, 3), cfg.pick(0.02, 0.005, 0.001))
    add_ratio = harness.ratio(stats["add fwd: ours"], stats["add fwd: numpy"])
    targets = {
        "add fwd: ours": Target(
            "perop",
            "add fwd: ours / numpy",
            add_ratio["median"],
            ADD_FWD_LIMIT,
            "<=",
            "x",
            best=add_ratio["of_mins"],
        )
    }
    for name in ("add fwd+bwd: ours", "matmul fwd+bwd: ours"):
        st = stats[name]
        targets[name] = Target("perop", name, st.median, OP_FWD_BWD_LIMIT, "<=", "s", best=st.min)
    printed = []
    for name, st in stats.items():
        base = name.replace("ours", "numpy by hand" if "bwd" in name else "numpy")
        r = harness.ratio(st, stats[base]) if base != name else None
        t = targets.get(name)
        if t is not None:
            rep.target(t)
        printed.append([name, fmt_stats(st), fmt_ratio(r), cell(t)])
    print(table(["operation", "time per call", "vs numpy", "target"], printed))
    rep.sections["perop"] = {name: st.as_dict() for name, st in stats.items()}


# ---------------------------------------------------------------------------
# 5. gradcheck
# ---------------------------------------------------------------------------


def section_gradcheck(cfg: Config, rep: Report) -> None:
    heading("5. gradcheck of the iris network 4-10-3 sigmoid (83 parameters, central differences)")
    import tinygrad_nn

    spec = workloads.MLP_SPECS["a"]
    x, t = workloads.mlp_data(spec, np.float64)
    model, _ = workloads.build_ours(spec, np.float64)
    # Start from trained-ish random weights rather than zero biases: every element matters.
    gen = np.random.default_rng(1)
    for p in model.parameters():
        p.data[...] = gen.uniform(-1, 1, p.shape)
    layers = workloads.dense_layers(model)
    net = reference.NumpyMLP(layers, spec.activations, spec.lr)
    flat = [p for pair in layers for p in pair]
    n_params = sum(p.size for p in flat)

    def network(w1: Any, b1: Any, w2: Any, b2: Any) -> Any:
        # b[..., None, :] and the sum over the last two axes let gradcheck batch the perturbations.
        h = (x @ w1 + b1[..., None, :]).sigmoid()
        d = (h @ w2 + b2[..., None, :]).sigmoid() - t
        return 0.5 * (d * d).sum(axis=(-2, -1))

    fns: dict[str, Callable[[], Any]] = {
        "numpy loop": lambda: reference.numpy_gradcheck(net, x, t),
        "ours gradcheck_module": lambda: tinygrad_nn.gradcheck_module(model, nn.sse_loss, x, t),
        "ours gradcheck (functional)": lambda: tinygrad_nn.gradcheck(network, flat),
    }
    passed, worst = reference.numpy_gradcheck(net, x, t)
    rep.check("gradcheck: numpy loop passes", passed, f"worst {worst:.3g} of the tolerance band")
    rep.check("gradcheck: iris network has 83 parameters", n_params == 83, f"{n_params}")
    for name in ("ours gradcheck_module", "ours gradcheck (functional)"):
        try:
            ok = bool(fns[name]())
            detail = "report is truthy"
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        rep.check(f"gradcheck: {name} passes", ok, detail)
    report = tinygrad_nn.gradcheck(network, flat)
    vectorized = [getattr(c, "vectorized", None) for c in report]
    stats = harness.measure(fns, cfg.pick(7, 3, 1), cfg.pick(0.2, 0.05, 0.0))
    printed = []
    for name, st in stats.items():
        r = harness.ratio(st, stats["numpy loop"])
        tg = None
        if name != "numpy loop":
            tg = rep.target(
                Target(
                    "gradcheck",
                    f"gradcheck: {name} / numpy loop",
                    r["median"],
                    GRADCHECK_LIMIT,
                    "<=",
                    "x",
                    best=r["of_mins"],
                )
            )
        printed.append([name, fmt_stats(st), fmt_ratio(r), cell(tg)])
    print(table(["implementation", "time per check", "vs numpy loop", "target"], printed))
    print(f"  functional gradcheck vectorized per input: {vectorized}")
    rep.sections["gradcheck"] = {
        "parameters": n_params,
        "vectorized": vectorized,
        **{name: st.as_dict() for name, st in stats.items()},
    }


# ---------------------------------------------------------------------------
# 6. Memory
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def traced() -> Iterator[Callable[[], tuple[int, int]]]:
    """tracemalloc running inside the block; yields () -> (current, peak) relative to the start."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]

    def usage() -> tuple[int, int]:
        current, peak = tracemalloc.get_traced_memory()
        return current - base, peak - base

    try:
        yield usage
    finally:
        tracemalloc.stop()


def cycles_after(step: Callable[[], Any]) -> int:
    """Objects the cyclic GC finds unreachable after one step run with the GC off (0: no cycles)."""
    gc.collect()
    gc.disable()
    try:
        step()
        return gc.collect()
    finally:
        gc.enable()


def section_memory(cfg: Config, rep: Report) -> None:
    heading("6. Memory: growth over training steps, reference cycles, peak of one step")
    result: dict[str, Any] = {}

    # Growth: 1,000 steps of (b); traced memory after the steps, with the loss dropped.
    spec = workloads.MLP_SPECS["b"]
    x, t = workloads.mlp_data(spec, np.float64)
    model, opt = workloads.build_ours(spec, np.float64)
    step = workloads.our_step(model, opt, x, t)
    n_steps = cfg.pick(1000, 1000, 30)
    step()
    marks = sorted({1, 10, 100, n_steps} & set(range(1, n_steps + 1)))
    seen = {}
    with traced() as usage:
        for i in range(1, n_steps + 1):
            step()
            if i in marks:
                seen[i] = usage()[0]
        peak_all = usage()[1]
    growth = seen[n_steps] - seen[10]
    result["growth"] = {"steps": n_steps, "traced_after_step": seen, "peak": peak_all, "growth": growth}
    tg = rep.target(
        Target("memory", f"(b) traced growth, step 10 -> {n_steps}", growth, GROWTH_LIMIT, "<=", "B",
               "tracemalloc, current size after each step")
    )  # fmt: skip
    print(
        f"  (b) float64, {n_steps} steps: traced memory after step "
        + ", ".join(f"{i}: {fmt_bytes(v)}" for i, v in seen.items())
        + f"; growth {fmt_bytes(growth)}  target {cell(tg)}"
    )

    # Cycles: with the GC off, one step must leave nothing for it to collect.
    cyc: dict[str, int] = {}
    for key in ("a", "b"):
        sp = workloads.MLP_SPECS[key]
        xs, ts = workloads.mlp_data(sp, np.float64)
        m, o = workloads.build_ours(sp, np.float64)
        cyc[f"({key}) MLP step"] = cycles_after(workloads.our_step(m, o, xs, ts))
    rows, ys = workloads.scalar_data(cfg.pick(100, 100, 10))
    smodel, _ = workloads.build_scalar_module()
    cyc["scalar MLP step"] = cycles_after(
        workloads.scalar_steps(smodel, smodel.parameters, rows, ys, 0.05)[1]
    )
    cyc["chain 10^4 fwd+bwd"] = cycles_after(lambda: workloads.chain(10**4)[1].backward())
    for name, found in cyc.items():
        tg = rep.target(Target("memory", f"cycles left by one {name}", found, 0, "<=", "objects"))
        print(f"  gc.collect() after one {name} with the GC off: {found} objects  target {cell(tg)}")
    if cfg.peers and workloads.micrograd_available():
        weights = [float(p.data) for p in workloads.scalar_parameters(smodel)]
        mg_step = workloads.MicrogradMLP(weights).steps(rows, ys, 0.05)[1]
        cyc["micrograd scalar MLP step (for comparison)"] = cycles_after(mg_step)
        print(f"  (micrograd, same step: {cyc['micrograd scalar MLP step (for comparison)']:,} objects)")
    result["cycles"] = cyc
    result["gc_garbage"] = len(gc.garbage)

    # Peak of one step (after a warm-up step), ours against the hand-written step.
    peaks, printed = [], []
    for sp in workloads.MLP_SPECS.values():
        for dtype in DTYPES:
            dt = np.dtype(dtype)
            xs, ts = workloads.mlp_data(sp, dt)
            m, o = workloads.build_ours(sp, dt)
            net = reference.NumpyMLP(workloads.dense_layers(m), sp.activations, sp.lr)
            ours = workloads.our_step(m, o, xs, ts)
            hand = lambda net=net, xs=xs, ts=ts: net.step(xs, ts)
            got = {}
            for name, fn in (("numpy", hand), ("ours", ours)):
                fn()
                with traced() as usage:
                    fn()
                    got[name] = usage()[1]
            r = got["ours"] / got["numpy"]
            tg = rep.target(
                Target(
                    "memory", f"{sp.key} {dt.name}: peak of one step, ours / numpy", r, PEAK_LIMIT, "<=", "x"
                )
            )
            peaks.append(
                {"workload": sp.key, "dtype": dt.name, "numpy": got["numpy"], "ours": got["ours"], "ratio": r}
            )
            title = sp.title if dt == np.float64 else ""
            printed.append(
                [title, dt.name, fmt_bytes(got["numpy"]), fmt_bytes(got["ours"]), f"{r:.2f}x", cell(tg)]
            )
    print(table(["workload", "dtype", "peak numpy (hand)", "peak ours", "ours/numpy", "target"], printed))
    result["peak_one_step"] = peaks
    rep.sections["memory"] = result


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

RUNNERS: dict[str, Callable[[Config, Report], None]] = {
    "mlp": section_mlp,
    "scalar": section_scalar,
    "chain": section_chain,
    "perop": section_perop,
    "gradcheck": section_gradcheck,
    "memory": section_memory,
}


def meta(cfg: Config, sections: list[str]) -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit: str | None = None
    dirty: bool | None = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "-C", str(ROOT)]
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        commit = head.stdout.strip() or None
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, timeout=10)
        dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    blas = None
    with contextlib.suppress(Exception):
        config: Any = np.show_config(mode="dicts")  # numpy >= 1.26; older ones raise TypeError
        blas = config["Build Dependencies"]["blas"]
    threadpools = None
    with contextlib.suppress(Exception):
        from threadpoolctl import threadpool_info

        threadpools = threadpool_info()
    return {
        "mode": cfg.mode,
        "peers": cfg.peers,
        "sections": sections,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "commit": commit,
        "uncommitted_changes": dirty,  # the working tree is what was measured
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "blas": blas,
        "threadpools": threadpools,
        "env": {v: os.environ.get(v) for v in (*THREAD_VARS, "OPENBLAS_CORETYPE")},
        "torch": workloads.torch_available() if cfg.peers else None,
        "micrograd": workloads.micrograd_available() if cfg.peers else None,
    }


def print_targets(rep: Report) -> None:
    heading("Targets (issue 6), measured in this run")
    printed = [
        [t.section, t.name, t.describe_value(), t.describe_limit(), t.status, t.describe_best()]
        for t in rep.targets
    ]
    print(table(["section", "target", "value", "limit", "status", "from the fastest repeats"], printed))
    counts = {s: sum(t.status == s for t in rep.targets) for s in ("MET", "MISSED", "n/a")}
    failed = [c for c in rep.checks if not c["passed"]]
    print(
        f"\n{counts['MET']} met, {counts['MISSED']} missed, {counts['n/a']} not measured; "
        f"{len(rep.checks) - len(failed)}/{len(rep.checks)} correctness checks passed"
    )
    for c in failed:
        print(f"  CHECK FAILED: {c['name']}: {c['detail']}")


PROFILE_CHOICES = ("a", "b", "c", "d", "scalar", "chain")


def _phases(run: Callable[[Callable[[str], None]], None], n: int) -> dict[str, Stats]:
    """Median time of each phase of ``run``; ``run(mark)`` calls ``mark(name)`` at the end of each phase."""
    times: dict[str, list[float]] = {}
    for _ in range(n):
        last = time.perf_counter()

        def mark(name: str) -> None:
            nonlocal last
            now = time.perf_counter()
            times.setdefault(name, []).append(now - last)
            last = time.perf_counter()

        run(mark)
    return {name: Stats(tuple(ts), 1) for name, ts in times.items()}


def _print_phases(columns: dict[str, dict[str, Stats]]) -> None:
    names = list(dict.fromkeys(name for col in columns.values() for name in col))
    rows = [[name, *(fmt_stats(col.get(name)) for col in columns.values())] for name in names]
    totals = ["total (medians)", *(fmt_time(sum(s.median for s in col.values())) for col in columns.values())]
    print(table(["phase", *columns], [*rows, totals]))


def profile(what: str, n: int, top: int) -> None:
    """Phase timings (perf_counter, no profiler), then cProfile of ``n`` of our steps of one workload."""
    if what in workloads.MLP_SPECS:
        spec = workloads.MLP_SPECS[what]
        x, t = workloads.mlp_data(spec, np.float64)
        model, opt = workloads.build_ours(spec, np.float64)
        net = reference.NumpyMLP(workloads.dense_layers(model), spec.activations, spec.lr)
        step = workloads.our_step(model, opt, x, t)
        title = f"{spec.title}, float64"

        def ours(mark: Callable[[str], None]) -> None:
            out = model(x)
            mark("forward")
            loss = nn.sse_loss(out, t)
            mark("loss")
            opt.zero_grad()
            loss.backward()
            mark("zero_grad + backward")
            opt.step()
            mark("SGD step")
            del out, loss
            mark("free the graph")

        def hand(mark: Callable[[str], None]) -> None:
            outs = net.forward(x)
            mark("forward")
            _, grads = net.gradients(outs, t)
            mark("zero_grad + backward")  # E is computed here too
            for p, g in zip(net.parameters(), grads, strict=True):
                p -= net.lr * g
            mark("SGD step")
            del outs, grads
            mark("free the graph")

        step()
        _print_phases({"ours": _phases(ours, n), "numpy (hand)": _phases(hand, n)})
    elif what == "scalar":
        rows, ys = workloads.scalar_data(100)
        smodel, _ = workloads.build_scalar_module()
        loss_fn, step = workloads.scalar_steps(smodel, smodel.parameters, rows, ys, 0.05)
        sgd = optim.SGD(list(smodel.parameters()), lr=0.05)
        title = "scalar MLP 2-16-16-1, 100 points"

        def scalar(mark: Callable[[str], None]) -> None:
            loss = loss_fn()
            mark("forward + loss")
            sgd.zero_grad()
            loss.backward()
            mark("zero_grad + backward")
            sgd.step()
            mark("SGD step")
            del loss
            mark("free the graph")

        def scalar_gc_off(mark: Callable[[str], None]) -> None:
            gc.collect()
            gc.disable()
            try:
                scalar(mark)
            finally:
                gc.enable()

        step()
        _print_phases({"ours (GC on)": _phases(scalar, n), "ours (GC off)": _phases(scalar_gc_off, n)})
    else:
        step = lambda: workloads.chain(10**5)[1].backward()
        title = "chain of 10^5 multiplications, forward + backward"
        step()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        step()
    prof.disable()
    print(f"\ncProfile of {n} steps of {title} (sorted by own time; cProfile inflates call overhead)")
    pstats.Stats(prof).strip_dirs().sort_stats("tottime").print_stats(top)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer repeats: about 1-2 minutes")
    p.add_argument("--smoke", action="store_true", help="tiny sizes, no peers: seconds (for the test suite)")
    p.add_argument("--json", default=str(HERE / "last_run.json"), help="where to write the results")
    p.add_argument("--only", default="", help=f"comma-separated sections of: {', '.join(SECTIONS)}")
    p.add_argument("--no-peers", action="store_true", help="skip torch and micrograd even if installed")
    p.add_argument("--profile", choices=PROFILE_CHOICES, help="profile one workload instead of the suite")
    p.add_argument("--profile-steps", type=int, default=0, help="steps to profile (default by workload)")
    p.add_argument("--top", type=int, default=25, help="functions to list in a profile")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        default = {"a": 2000, "b": 300, "c": 30, "d": 1000, "scalar": 3, "chain": 3}[args.profile]
        profile(args.profile, args.profile_steps or default, args.top)
        return 0
    sections = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        print(f"run.py: unknown sections {unknown}; choose from {', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    cfg = Config(mode=mode, peers=not (args.no_peers or args.smoke))
    info = meta(cfg, sections)
    print(
        f"tinygrad_nn benchmarks ({mode}): Python {info['python']}, numpy {info['numpy']}, {info['cpu']}; "
        f"BLAS threads 1; torch {info['torch'] or 'absent'}, micrograd {info['micrograd'] or 'absent'}"
    )
    rep = Report(cfg)
    start = time.perf_counter()
    for name in sections:
        RUNNERS[name](cfg, rep)
    print_targets(rep)
    info["elapsed_s"] = time.perf_counter() - start
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rep.as_dict(info), indent=1, default=_json_default) + "\n")
    print(f"\nwrote {path} ({info['elapsed_s']:.0f} s)")
    return 0 if all(c["passed"] for c in rep.checks) else 1


def _json_default(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


if __name__ == "__main__":
    sys.exit(main())
