"""A micrograd-style MLP: every weight is its own scalar Value.

Neuron, Layer and MLP are ordinary ``nn.Module`` subclasses; each weight is
an ``nn.Parameter`` holding a plain Python float, kept in an
``nn.ParameterList``, so ``named_parameters()`` names every connection:
``layers.1.neurons.3.w.0`` is the weight from unit 0 of layer 0 into neuron 3
of layer 1. The same optimizers, losses and checkpoints work as for array
layers; only the speed differs (one graph node per multiply).

Run: ``python examples/scalar_mlp.py`` (a few seconds). It trains a 2-8-8-1
tanh network on a generated two-moons set and prints the loss and accuracy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from tinygrad_nn import Value, nn, optim, stack


class Neuron(nn.Module):
    """One unit: z = Σ_j w_j x_j + b, then its activation ("tanh", "relu" or "linear")."""

    def __init__(self, n_inputs: int, activation: str = "tanh", rng: Any = None) -> None:
        super().__init__()
        if activation not in ("tanh", "relu", "linear"):
            raise ValueError(f"Neuron: activation must be 'tanh', 'relu' or 'linear', got {activation!r}")
        gen = nn.init.as_generator(rng)
        # U(-1, 1) as in micrograd, scaled by 1/sqrt(fan-in) so wide layers do not saturate tanh.
        scale = 1.0 / math.sqrt(n_inputs)
        self.w = nn.ParameterList(nn.Parameter(float(gen.uniform(-scale, scale))) for _ in range(n_inputs))
        self.b = nn.Parameter(0.0)
        self.activation = activation

    def forward(self, x: Sequence[Any]) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"Neuron({len(self.w)} inputs): got {len(x)} inputs")
        z = sum((wj * xj for wj, xj in zip(self.w, x, strict=True)), self.b)
        if self.activation == "tanh":
            return z.tanh()
        if self.activation == "relu":
            return z.relu()
        return z

    def extra_repr(self) -> str:
        return f"{len(self.w)} inputs, {self.activation}"


class Layer(nn.Module):
    """A list of neurons that all see the same inputs."""

    def __init__(self, n_inputs: int, n_outputs: int, activation: str = "tanh", rng: Any = None) -> None:
        super().__init__()
        gen = nn.init.as_generator(rng)
        self.neurons = nn.ModuleList(Neuron(n_inputs, activation, gen) for _ in range(n_outputs))

    def forward(self, x: Sequence[Any]) -> list[Value]:
        return [neuron(x) for neuron in self.neurons]


class MLP(nn.Module):
    """Layers of scalar neurons: tanh hidden layers and a linear output layer."""

    def __init__(self, n_inputs: int, sizes: Sequence[int], rng: Any = None) -> None:
        super().__init__()
        gen = nn.init.as_generator(rng)
        widths = [n_inputs, *sizes]
        last = len(sizes) - 1
        self.layers = nn.ModuleList(
            Layer(widths[i], widths[i + 1], "linear" if i == last else "tanh", gen) for i in range(len(sizes))
        )

    def forward(self, x: Sequence[Any]) -> Any:
        """One example (a sequence of numbers) -> a Value, or a list of them for several outputs."""
        out: list[Any] = [float(v) for v in x]
        for layer in self.layers:
            out = layer(out)
        return out[0] if len(out) == 1 else out


def make_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, labels 0 and 1, with Gaussian noise."""
    half = n // 2
    a = rng.uniform(0.0, math.pi, half)
    b = rng.uniform(0.0, math.pi, n - half)
    upper = np.stack([np.cos(a), np.sin(a)], axis=1)
    lower = np.stack([1.0 - np.cos(b), 0.5 - np.sin(b)], axis=1)
    x = np.concatenate([upper, lower]) + rng.normal(0.0, noise, (n, 2))
    y = np.concatenate([np.zeros(half), np.ones(n - half)])
    return (x - x.mean(axis=0)) / x.std(axis=0), y


def train(steps: int = 60, n: int = 60, seed: int = 0, log_every: int = 10) -> tuple[list[float], float]:
    """Train a 2-8-8-1 scalar MLP with Adam; return the losses and the final accuracy."""
    rng = np.random.default_rng(seed)
    x, y = make_moons(n, 0.1, rng)
    model = MLP(2, [8, 8, 1], rng=rng)
    opt = optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for step in range(steps):
        logits = stack([model(row) for row in x])  # (n,) scores, one graph per example
        loss = nn.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps - 1):
            accuracy = float(np.mean((logits.data > 0) == y))
            print(f"step {step:3d}  loss {loss.item():.4f}  accuracy {accuracy:.0%}")
    logits = stack([model(row) for row in x])
    return losses, float(np.mean((logits.data > 0) == y))


def main() -> None:
    start = time.perf_counter()
    probe = MLP(2, [8, 8, 1], rng=0)
    names = [name for name, _ in probe.named_parameters()]
    print(f"layers.1.neurons.3 = {probe.layers[1].neurons[3]}")
    print(f"{len(names)} scalar parameters: {names[0]}, {names[1]}, ..., {names[-1]}")
    losses, accuracy = train()
    elapsed = time.perf_counter() - start
    print(f"loss {losses[0]:.4f} -> {losses[-1]:.4f}, final accuracy {accuracy:.0%} ({elapsed:.1f} s)")


if __name__ == "__main__":
    main()
