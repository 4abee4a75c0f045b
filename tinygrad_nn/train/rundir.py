"""The run directory, replaced as one unit: a new run never shows beside pieces of the previous one.

A run's files are written into a fresh sibling directory
``.<name>.<pid>.<random>.new`` next to the output directory, each file
fsynced, and that directory is then put in the output directory's place:

* no previous run: one ``rename``;
* a previous run, on Linux: one ``renameat2(RENAME_EXCHANGE)``, which swaps
  the two directories atomically; the previous run, now under the temporary
  name, is then removed;
* elsewhere (or on a file system without the exchange): the previous run is
  renamed to ``.<name>.<pid>.<random>.old``, the new one renamed into place,
  and the old one removed. A kill between the two renames leaves no output
  directory but the previous run complete under the ``.old`` name.

Before a run starts, the leftovers of runs that were killed (those names, with
the id of a process that no longer runs) are cleaned up: an ``.old`` is
renamed back when the output directory is missing, everything else is
removed. So whoever looks at the output directory finds the complete previous
run or the complete new one, and the next ``train`` repairs the one window the
fallback has.

A Ctrl-C while the files are written and swapped is held until the swap is
done (see :func:`sigint_deferred`), so it cannot cut that step in half either.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..checkpoint import _fsync_dir, _running
from .config import TrainConfigError

__all__ = ["RUN_FILES"]

RUN_FILES = ("model.npz", "metrics.csv", "metrics.json", "loss.png")
"""The files a run writes; an existing output directory may hold only these."""


def prepare(out: Path) -> Path:
    """Check, before training, that ``out`` can take a run; returns the real path to replace.

    Repairs what killed runs left behind; refuses (with a
    :class:`~tinygrad_nn.train.TrainConfigError` naming ``--out``) a path that is
    not a directory, a directory holding anything but a run's files (it would be
    replaced as a whole), the working directory or one above it, and a parent
    directory where nothing can be written.
    """
    shown = str(out)
    target = Path(os.path.realpath(out))
    if target.exists() and not target.is_dir():
        raise TrainConfigError(f"--out: {shown!r} exists and is not a directory")
    cwd = Path.cwd().resolve()
    if target == cwd or target in cwd.parents:
        raise TrainConfigError(
            f"--out: {shown!r} is the working directory or holds it; a run replaces its directory as a "
            f"whole, so name a directory of its own such as runs/x"
        )
    try:
        with contextlib.suppress(FileExistsError):  # a file in the way is reported below
            target.parent.mkdir(parents=True, exist_ok=True)
        # The run is written beside its directory and renamed into place: the parent must take a new entry.
        os.rmdir(_mkdtemp_beside(target))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise TrainConfigError(f"--out: cannot write to {shown!r} ({reason})") from None
    recover(target)
    if target.is_dir():
        foreign = sorted(name for name in os.listdir(target) if not _is_run_file(name))
        if foreign:
            listed = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
            raise TrainConfigError(
                f"--out: {shown!r} holds files that are not a run's ({listed}); a run replaces its "
                f"directory as a whole, so give a new or empty directory, or a previous run's"
            )
    return target


def _is_run_file(name: str) -> bool:
    # A run's files, and the temp files that an interrupted save of one of them may have left.
    return name in RUN_FILES or any(name.startswith(f".{f}.") and name.endswith(".tmp") for f in RUN_FILES)


def recover(target: Path) -> None:
    """Clean up after runs that were killed while writing ``target``; restore it if a swap was cut short."""
    prefix = f".{target.name}."
    try:
        entries = os.listdir(target.parent)
    except OSError:
        return
    dead = []
    for entry in entries:
        if entry.startswith(prefix) and entry.endswith((".new", ".old")):
            pid = entry[len(prefix) :].split(".", 1)[0]
            if pid.isdigit() and not _running(int(pid)):
                dead.append(target.parent / entry)
    if not os.path.lexists(target):
        backups = sorted((p for p in dead if p.name.endswith(".old")), key=_mtime, reverse=True)
        if backups:  # killed between the fallback's two renames: the previous run goes back in place
            os.rename(backups[0], target)
            _fsync_dir(os.fspath(target.parent))
            dead.remove(backups[0])
    for path in dead:
        shutil.rmtree(path, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _mkdtemp_beside(target: Path) -> str:
    # The process id in the name tells a live run's directory from a killed one's (see recover).
    return tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".new", dir=target.parent)


def new_staging(target: Path) -> Path:
    """An empty directory beside ``target`` to write the new run into, with ``target``'s permissions."""
    staging = Path(_mkdtemp_beside(target))
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o777 & ~umask
    os.chmod(staging, mode)
    return staging


def swap_into_place(staging: Path, target: Path) -> None:
    """Put the complete run in ``staging`` at ``target``, replacing any previous run as a unit."""
    parent = os.fspath(target.parent)
    if not os.path.lexists(target):
        os.rename(staging, target)
        _fsync_dir(parent)
        return
    if _exchange(staging, target):
        _fsync_dir(parent)
        shutil.rmtree(staging)  # the previous run, now under the temporary name
        return
    backup = staging.with_name(staging.name.removesuffix(".new") + ".old")
    os.rename(target, backup)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(backup, target)  # the previous run goes back: a failed swap changes nothing
        raise
    _fsync_dir(parent)
    shutil.rmtree(backup)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directories atomically (Linux ``renameat2``); False where that is not available."""
    rename_exchange = _renameat2()
    if rename_exchange is None:
        return False
    at_fdcwd, exchange = -100, 2
    if rename_exchange(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # the kernel or the file system cannot exchange: use the two renames
    raise OSError(err, f"cannot replace {b} ({os.strerror(err)})")


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """The C library's ``renameat2`` (glibc has it since 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int
    return func


@contextlib.contextmanager
def sigint_deferred() -> Iterator[list[int]]:
    """Hold Ctrl-C (SIGINT) for the duration; yields a list that records the signals that arrived.

    Only the main thread receives signals; elsewhere (and where SIGINT is
    ignored) this changes nothing.
    """
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield received
        return
    signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield received
    finally:
        signal.signal(signal.SIGINT, previous)
