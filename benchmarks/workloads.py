"""The benchmarked workloads, built the way users write them, and their peers.

MLP workloads (a)-(d): ``nn.Sequential`` of ``nn.Dense`` layers and
activation modules, ``nn.sse_loss`` (E = ½ Σ (O − t)², summed over the
batch), ``optim.SGD``. The same network is built from the same initial
weights as a hand-written numpy step (:mod:`reference`) and, when torch is
importable, as a PyTorch CPU model.

The scalar MLP mirrors micrograd's demo: a 2-16-16-1 network of scalar
neurons (Σ w_i x_i + b, relu hidden, linear output) on 100 two-moons points,
labels ±1, loss = mean of the hinge relu(1 − y·score) + 1e-4 Σ p² over every
parameter, SGD.
"""

from __future__ import annotations

import importlib.util
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tinygrad_nn import Value, data, nn, optim

ROOT = Path(__file__).resolve().parent.parent

Step = Callable[[], Any]


# ---------------------------------------------------------------------------
# MLP workloads (a)-(d)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MLPSpec:
    key: str
    title: str
    sizes: tuple[int, ...]
    batch: int
    activations: tuple[str, ...]  # one per Dense layer: "sigmoid", "tanh" or "linear"
    lr: float  # small enough that thousands of steps on the sum-over-batch loss stay finite


MLP_SPECS: dict[str, MLPSpec] = {
    s.key: s
    for s in (
        MLPSpec(
            "a", "(a) iris 150x4 -> 10 sigmoid -> 3 sigmoid", (4, 10, 3), 150, ("sigmoid", "sigmoid"), 0.01
        ),
        MLPSpec("b", "(b) batch 64: 784 -> 128 tanh -> 10", (784, 128, 10), 64, ("tanh", "linear"), 1e-4),
        MLPSpec(
            "c",
            "(c) batch 256: 784 -> 256 tanh -> 256 tanh -> 10",
            (784, 256, 256, 10),
            256,
            ("tanh", "tanh", "linear"),
            2e-5,
        ),
        MLPSpec("d", "(d) batch 1: 784 -> 128 tanh -> 10", (784, 128, 10), 1, ("tanh", "linear"), 1e-3),
    )
}


def mlp_data(spec: MLPSpec, dtype: Any, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and one-hot targets: standardized iris for (a), pixel-like U(0, 1) rows otherwise."""
    n_out = spec.sizes[-1]
    if spec.key == "a":
        x, labels = data.load_iris()
        x = (x - x.mean(axis=0)) / x.std(axis=0)
    else:
        gen = np.random.default_rng(seed)
        x = gen.uniform(0.0, 1.0, (spec.batch, spec.sizes[0]))
        labels = gen.integers(0, n_out, spec.batch)
    t = np.eye(n_out)[labels]
    return np.ascontiguousarray(x, dtype=dtype), t.astype(dtype)


def build_ours(spec: MLPSpec, dtype: Any, seed: int = 0) -> tuple[nn.Sequential, optim.SGD]:
    """The model as users write it: ``nn.mlp`` (Sequential of Dense and activation modules) and SGD."""
    *hidden, output = [None if act == "linear" else act for act in spec.activations]
    if len(set(hidden)) > 1:
        raise ValueError(f"build_ours: nn.mlp takes one hidden activation, {spec.key!r} has {hidden}")
    model = nn.mlp(spec.sizes, hidden[0] if hidden else None, output, rng=seed, dtype=dtype)
    return model, optim.SGD(model.parameters(), lr=spec.lr)


def our_step(model: nn.Module, opt: optim.SGD, x: np.ndarray, t: np.ndarray) -> Step:
    def step() -> None:
        loss = nn.sse_loss(model(x), t)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def dense_layers(model: nn.Module) -> list[tuple[np.ndarray, np.ndarray]]:
    """Copies of (W, θ) of every Dense layer, in order."""
    layers = [m for m in model.modules() if isinstance(m, nn.Dense)]
    if any(m.bias is None for m in layers):
        raise ValueError("dense_layers: the benchmark networks have biases")
    return [(np.array(m.weight.data), np.array(m.bias.data)) for m in layers if m.bias is not None]


def our_parameters(model: nn.Module) -> list[np.ndarray]:
    return [np.array(p.data) for p in model.parameters()]


def torch_available() -> str | None:
    """torch's version when it can be imported, else None."""
    if importlib.util.find_spec("torch") is None:
        return None
    try:
        import torch
    except Exception:  # a broken install counts as absent
        return None
    return str(torch.__version__)


class TorchMLP:
    """The same network in PyTorch (CPU, one thread), from the same initial weights."""

    def __init__(self, spec: MLPSpec, layers: Sequence[tuple[np.ndarray, np.ndarray]], dtype: Any) -> None:
        import torch

        torch.set_num_threads(1)
        tdt = torch.float64 if np.dtype(dtype) == np.float64 else torch.float32
        modules: list[Any] = []
        self.linears = []
        for (w, b), act in zip(layers, spec.activations, strict=True):
            lin = torch.nn.Linear(w.shape[0], w.shape[1], dtype=tdt)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
                lin.bias.copy_(torch.from_numpy(b))
            modules.append(lin)
            self.linears.append(lin)
            if act == "sigmoid":
                modules.append(torch.nn.Sigmoid())
            elif act == "tanh":
                modules.append(torch.nn.Tanh())
        self.model = torch.nn.Sequential(*modules)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=spec.lr)

    def step_fn(self, x: np.ndarray, t: np.ndarray) -> Step:
        import torch

        xt, tt = torch.from_numpy(x), torch.from_numpy(t)
        model, opt = self.model, self.opt

        def step() -> None:
            loss = 0.5 * ((model(xt) - tt) ** 2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()

        return step

    def parameters(self) -> list[np.ndarray]:
        out = []
        for lin in self.linears:
            out += [lin.weight.detach().numpy().T.copy(), lin.bias.detach().numpy().copy()]
        return out


def max_param_error(got: Sequence[np.ndarray], want: Sequence[np.ndarray], rtol: float) -> float:
    """max |got − want| / (rtol · (|want| + max|want|)) over all parameters: <= 1 means equal.

    The max|want| term is an absolute floor, so elements that happen to be
    near 0 are held to the precision of the array's scale, not to 0.
    """
    worst = 0.0
    for g, w in zip(got, want, strict=True):
        g64, w64 = np.asarray(g, dtype=np.float64), np.asarray(w, dtype=np.float64)
        if g64.shape != w64.shape:
            return float("inf")
        scale = float(np.max(np.abs(w64), initial=0.0))
        err = np.abs(g64 - w64) / (rtol * (np.abs(w64) + scale) + 1e-300)
        worst = max(worst, float(np.max(err, initial=0.0)))
    return worst


# ---------------------------------------------------------------------------
# Scalar MLP (micrograd-style)
# ---------------------------------------------------------------------------

SCALAR_SIZES = (2, 16, 16, 1)


def scalar_data(n: int = 100, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """Two moons (noise 0.1), as Python floats, labels ±1 (micrograd's demo uses y·2 − 1)."""
    x, y = data.moons(n, noise=0.1, rng=seed)
    return x.tolist(), [2.0 * float(v) - 1.0 for v in y]


def svm_loss(scores: Sequence[Any], ys: Sequence[float], params: Any, alpha: float = 1e-4) -> Any:
    """micrograd's demo loss: mean hinge relu(1 − y·score) + α Σ p² (works for any scalar Value type)."""
    losses = [(1 + -yi * si).relu() for yi, si in zip(ys, scores, strict=True)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = alpha * sum(p * p for p in params)
    return data_loss + reg_loss


def _example_module() -> ModuleType | None:
    """examples/scalar_mlp.py (the project's Module-API scalar MLP), or None when it is unusable."""
    path = ROOT / "examples" / "scalar_mlp.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location("_tinygrad_nn_scalar_mlp_example", path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception:
        return None
    return module if hasattr(module, "Layer") else None


class _Neuron(nn.Module):
    """Fallback Module-API neuron when the example is unavailable: Σ w_i x_i + b, then relu or nothing."""

    def __init__(self, n_inputs: int, relu: bool, gen: np.random.Generator) -> None:
        super().__init__()
        self.w = nn.ParameterList(float(v) for v in gen.uniform(-1, 1, n_inputs))
        self.b = nn.Parameter(0.0)
        self.relu = relu

    def forward(self, x: Sequence[Any]) -> Value:
        z = sum((wi * xi for wi, xi in zip(self.w, x, strict=True)), self.b)
        return z.relu() if self.relu else z


class _Layer(nn.Module):
    def __init__(self, n_inputs: int, n_outputs: int, relu: bool, gen: np.random.Generator) -> None:
        super().__init__()
        self.neurons = nn.ModuleList(_Neuron(n_inputs, relu, gen) for _ in range(n_outputs))

    def forward(self, x: Sequence[Any]) -> list[Value]:
        return [n(x) for n in self.neurons]


def build_scalar_module(seed: int = 0) -> tuple[nn.Module, str]:
    """The Module-API scalar MLP: ``nn.Sequential`` of the example's ``Layer`` (relu, relu, linear).

    Returns the model (called on one example, it returns a list of one Value)
    and where its classes came from.
    """
    gen = np.random.default_rng(seed)
    sizes = SCALAR_SIZES
    last = len(sizes) - 2
    example = _example_module()
    if example is not None:
        try:
            layers = [
                example.Layer(sizes[i], sizes[i + 1], "linear" if i == last else "relu", gen)
                for i in range(len(sizes) - 1)
            ]
            return nn.Sequential(*layers), "examples/scalar_mlp.py Layer/Neuron"
        except Exception:
            pass
    layers = [_Layer(sizes[i], sizes[i + 1], i != last, gen) for i in range(len(sizes) - 1)]
    return nn.Sequential(*layers), "benchmarks/workloads.py fallback Layer/Neuron"


def scalar_parameters(model: nn.Module) -> list[Value]:
    """The Module-API scalar MLP's parameters in micrograd's order: per neuron, its weights then its bias.

    (``model.parameters()`` lists each neuron's own ``b`` before the ``w``
    list it holds as a child module.)
    """
    layers: list[Any] = list(model.children())
    return [p for layer in layers for n in layer.neurons for p in (*n.w, n.b)]


class PlainScalarMLP:
    """The same network from bare Values in lists (no Module): isolates the engine's share."""

    def __init__(self, weights: Sequence[float], sizes: Sequence[int] = SCALAR_SIZES) -> None:
        values = iter([Value(float(w)) for w in weights])
        self.layers = [
            [([next(values) for _ in range(n_in)], next(values)) for _ in range(n_out)]
            for n_in, n_out in itertools.pairwise(sizes)
        ]

    def __call__(self, x: Sequence[Any]) -> Any:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            out = []
            for ws, b in layer:
                z = sum((wi * xi for wi, xi in zip(ws, x, strict=True)), b)
                out.append(z if i == last else z.relu())
            x = out
        return x[0]

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for ws, b in layer for p in (*ws, b)]


def scalar_steps(
    model: Any, params: Callable[[], Any], rows: Sequence[Sequence[float]], ys: Sequence[float], lr: float
) -> tuple[Callable[[], Any], Step]:
    """(build the loss graph, one full training step) for one of our scalar MLPs.

    ``model(row)`` gives a Value or a one-element list; ``params()`` the
    parameters, called every step as micrograd's demo does.
    """
    opt = optim.SGD(list(params()), lr=lr)

    def score(row: Sequence[float]) -> Any:
        out = model(row)
        return out[0] if isinstance(out, list) else out

    def loss() -> Any:
        return svm_loss([score(row) for row in rows], ys, params())

    def step() -> None:
        total = loss()
        opt.zero_grad()
        total.backward()
        opt.step()

    return loss, step


def micrograd_available() -> str | None:
    if importlib.util.find_spec("micrograd") is None:
        return None
    try:
        import micrograd  # noqa: F401
    except Exception:
        return None
    try:
        from importlib.metadata import version

        return version("micrograd")
    except Exception:
        return "unknown"


class MicrogradMLP:
    """micrograd's own MLP(2, [16, 16, 1]) with the given weights and its demo's training step."""

    def __init__(self, weights: Sequence[float]) -> None:
        from micrograd.nn import MLP

        self.model = MLP(SCALAR_SIZES[0], list(SCALAR_SIZES[1:]))
        params = self.model.parameters()
        if len(params) != len(weights):
            raise ValueError(f"micrograd MLP has {len(params)} parameters, ours {len(weights)}")
        for p, w in zip(params, weights, strict=True):
            p.data = float(w)

    def steps(self, rows: Sequence[Sequence[float]], ys: Sequence[float], lr: float) -> tuple[Step, Step]:
        from micrograd.engine import Value as MgValue

        model = self.model

        def loss() -> Any:
            inputs = [[MgValue(v) for v in row] for row in rows]  # the demo wraps inputs in Values
            return svm_loss([model(x) for x in inputs], ys, model.parameters())

        def step() -> None:
            total = loss()
            model.zero_grad()
            total.backward()
            for p in model.parameters():
                p.data -= lr * p.grad

        return loss, step

    def parameters(self) -> list[float]:
        return [p.data for p in self.model.parameters()]


def count_nodes(root: Any, inputs: Callable[[Any], Any]) -> int:
    """Distinct nodes reachable from ``root``; ``inputs(node)`` lists a node's inputs."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for p in inputs(stack.pop()):
            if id(p) not in seen:
                seen.add(id(p))
                stack.append(p)
    return len(seen)


# ---------------------------------------------------------------------------
# Scalar chains
# ---------------------------------------------------------------------------

CHAIN_FACTOR = 1.0000001


def chain(n: int) -> tuple[Value, Value]:
    """x and y = x · c · c ⋯ c (n multiplications): a graph of n + 1 scalar nodes, n deep."""
    x = Value(1.0)
    y = x
    for _ in range(n):
        y = y * CHAIN_FACTOR
    return x, y
