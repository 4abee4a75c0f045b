"""One scalar-MLP implementation, timed in an interpreter of its own (section 2 of run.py).

    python -m benchmarks.scalar_worker IMPLEMENTATION POINTS GC

IMPLEMENTATION is ``module`` (our Module API), ``module-reference`` (the same
in ``tinygrad_nn.reference_mode()``, set for the whole process), ``plain``
(our bare Values) or ``micrograd``; GC is ``on`` or ``off``. Every worker starts from the same
weights (``workloads.build_scalar_module``'s seed) and imports the same
modules, so each pays for the same interpreter heap and nothing else: in the
parent process it would also pay for torch, loaded for section 1, whose
objects every full collection of CPython's garbage collector walks.

Protocol, one line each way: the worker prints ``{"ready": ...}``, then
answers each ``run K`` on stdin with the seconds of K back-to-back training
steps (one block), and exits on ``quit`` or end of input.

With GC ``on`` nothing calls the collector: steps run as in a user's training
loop, and each block pays whatever collections its own allocations trigger.
With GC ``off`` the collector is disabled for the block and run after it,
outside the timed region.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time
from collections.abc import Callable

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[_var] = "1"
if len(sys.argv) > 1 and sys.argv[1] == "module-reference":
    os.environ["TINYGRAD_NN_REFERENCE"] = "1"  # before tinygrad_nn is imported

from benchmarks import workloads  # noqa: E402

IMPLEMENTATIONS = ("module", "module-reference", "plain", "micrograd")
LEARNING_RATE = 0.05


def build(implementation: str, points: int) -> Callable[[], None]:
    """The training step of ``implementation`` on ``points`` moons points."""
    rows, ys = workloads.scalar_data(points)
    model, _ = workloads.build_scalar_module()
    if implementation in ("module", "module-reference"):
        return workloads.scalar_steps(model, model.parameters, rows, ys, LEARNING_RATE)[1]
    weights = [float(p.data) for p in workloads.scalar_parameters(model)]
    if implementation == "plain":
        plain = workloads.PlainScalarMLP(weights)
        return workloads.scalar_steps(plain, plain.parameters, rows, ys, LEARNING_RATE)[1]
    return workloads.MicrogradMLP(weights).steps(rows, ys, LEARNING_RATE)[1]


def run_block(step: Callable[[], None], k: int, gc_on: bool) -> float:
    """Seconds of ``k`` back-to-back steps; with ``gc_on=False`` the collector is
    off during them and runs after them, outside the timed region."""
    if not gc_on:
        gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(k):
            step()
        return time.perf_counter() - t0
    finally:
        if not gc_on:
            gc.enable()
            gc.collect()


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] not in IMPLEMENTATIONS or argv[2] not in ("on", "off"):
        print(__doc__, file=sys.stderr)
        return 2
    implementation, points, gc_on = argv[0], int(argv[1]), argv[2] == "on"
    step = build(implementation, points)
    print(json.dumps({"ready": implementation, "gc": argv[2], "points": points}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        if words[0] != "run" or len(words) != 2:
            print(json.dumps({"error": f"unknown command {line.strip()!r}"}), flush=True)
            continue
        print(json.dumps({"seconds": run_block(step, int(words[1]), gc_on)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
