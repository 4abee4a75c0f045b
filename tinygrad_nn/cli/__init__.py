"""The command line: ``python -m tinygrad_nn COMMAND [options]``.

Each command is a module of this package (``gradcheck``, ``train``,
``graph``) with an ``add_<command>(subcommands)`` function that registers
its parser and sets ``run=`` to a handler ``(args) -> exit code``; adding a
command means writing such a module and listing its function in
:data:`COMMANDS`. What the commands share (the usage error, the argument
types) is in ``arguments``.

Exit codes: 0 success, 1 the experiment failed (e.g. a gradient check),
2 bad arguments (reported in one line on stderr, never a traceback), 130
a training run stopped by Ctrl-C (one line on stderr, saying what was saved).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from .arguments import PROG, Subcommands, UsageError, _Parser
from .gradcheck import add_gradcheck
from .graph import add_graph
from .train import add_train

__all__ = ["COMMANDS", "UsageError", "build_parser", "main"]

COMMANDS: list[Callable[[Subcommands], None]] = [add_gradcheck, add_train, add_graph]
"""The commands, in the order ``--help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole program, with every command of :data:`COMMANDS`."""
    parser = _Parser(
        prog=PROG,
        description="tinygrad_nn experiments from the command line.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit code (0 ok, 1 failed, 2 bad arguments, 130 Ctrl-C in train).

    ``argv`` None means the program's own command line (``sys.argv[1:]``):
    main is then the whole program, and once the command is done a Ctrl-C no
    longer matters, so it is ignored while Python shuts down (otherwise it
    would kill the process silently, with a status that says the work was
    interrupted when it was complete).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        code = int(args.run(args))
    except UsageError as exc:
        print(exc, file=sys.stderr)
        code = 2
    except SystemExit as exc:  # --help and --version exit through argparse
        code = exc.code if isinstance(exc.code, int) else 0
    if argv is None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code
