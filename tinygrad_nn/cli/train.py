"""``tinygrad-nn train``: the options of a :class:`~tinygrad_nn.train.TrainConfig` as flags."""

from __future__ import annotations

import argparse
import sys

from .arguments import PROG, Subcommands, UsageError, _int_at_least, positive_float

__all__ = ["INTERRUPTED", "add_train", "run_train"]


def _hidden_sizes(text: str) -> tuple[int, ...]:
    """``--hidden``'s argument type: :func:`~tinygrad_nn.train.parse_hidden`, its message as argparse's."""
    from ..train import TrainConfigError, parse_hidden

    try:
        return parse_hidden(text)
    except TrainConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--hidden: ")) from None


def add_train(subcommands: Subcommands) -> None:
    """Register the ``train`` command."""
    from ..data import DATASET_NAMES
    from ..train import ACTIVATIONS, LOSSES, OPTIMIZERS

    p = subcommands.add_parser(
        "train",
        help="train a network on a bundled or generated data set",
        description=(
            "Train a Dense network on a data set (split 80/20, features standardized), report progress "
            "and the final train/test accuracy (RMSE and R^2 for regression), and write a checkpoint "
            "(with the model's description), per-epoch metrics (CSV and JSON) and, with matplotlib, a "
            "loss-curve PNG to --out, replacing the previous run there as a whole. Ctrl-C saves the last "
            "completed epoch and exits with status 130."
        ),
    )
    p.add_argument("--dataset", choices=DATASET_NAMES, default="iris",
                   help="data set (default: iris)")  # fmt: skip
    p.add_argument("--hidden", type=_hidden_sizes, default=(10,), metavar="N,N,...",
                   help="hidden layer widths, or 'none' (default: 10)")  # fmt: skip
    p.add_argument("--activation", choices=ACTIVATIONS, default="tanh",
                   help="activation of the hidden layers (default: tanh)")  # fmt: skip
    p.add_argument("--loss", choices=LOSSES, default=None,
                   help="loss (default: cross-entropy for classification, mse for regression)")  # fmt: skip
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam", help="optimizer (default: adam)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="learning rate (default: adam 0.01, sgd 0.2, sgd with sse 0.02)")  # fmt: skip
    p.add_argument("--epochs", type=_int_at_least(1), default=None,
                   help="passes over the training data (default: depends on the data set)")  # fmt: skip
    p.add_argument("--batch-size", type=_int_at_least(1), default=16, help="mini-batch size (default: 16)")
    p.add_argument("--seed", type=_int_at_least(0), default=0,
                   help="seed for data, split, weights and batch order (default: 0)")  # fmt: skip
    p.add_argument("--out", metavar="DIR", default=None,
                   help="the run's directory, replaced as a whole (default: runs/<dataset>)")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no progress display")
    p.set_defaults(run=run_train)


INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT, as shells report a process stopped by it)."""


def run_train(args: argparse.Namespace) -> int:
    """Run ``train``: 0 on success, 1 when training diverged or its files could not be written.

    Ctrl-C prints one line saying what was saved and returns :data:`INTERRUPTED` (130).
    """
    try:
        return _run_train(args)
    except KeyboardInterrupt as exc:
        from ..train import TrainInterrupted

        if isinstance(exc, TrainInterrupted):
            print(f"{PROG} train: {exc}", file=sys.stderr)
        else:  # while the data was loaded or --out checked, before there was anything to save
            print(f"{PROG} train: interrupted; nothing saved", file=sys.stderr)
        return INTERRUPTED


def _run_train(args: argparse.Namespace) -> int:
    from ..train import TrainConfig, TrainConfigError, train

    config = TrainConfig(
        dataset=args.dataset, hidden=args.hidden, activation=args.activation, loss=args.loss,
        optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
        seed=args.seed, out=args.out,
    )  # fmt: skip
    try:
        train(config, quiet=args.quiet)
    except TrainConfigError as exc:
        raise UsageError(f"{PROG} train: error: {exc}") from None
    except (FloatingPointError, OSError) as exc:  # diverged, or the results could not be written
        print(f"{PROG} train: error: {exc}", file=sys.stderr)
        return 1
    return 0
