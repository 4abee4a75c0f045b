"""Safe ``.npz`` checkpoints: written atomically, read without unpickling.

:func:`save_npz` writes every array to a temporary file in the target's
directory, flushes and fsyncs it, then renames it over the target with
:func:`os.replace` (atomic on POSIX and Windows). A crash or an exception at
any point before the rename leaves the previous checkpoint untouched, and the
temporary file is removed.

:func:`load_npz` reads with ``allow_pickle=False``: an archive holding an
object array (which could only be restored by unpickling, i.e. by running code
from the file) is refused, as are truncated or corrupted files; every problem
becomes a :class:`CheckpointError` naming the file.

The format is numpy's own ``.npz`` (a zip of ``.npy`` files), so checkpoints
open with plain ``np.load(path)`` too.

A checkpoint may also carry a description of what it holds (``metadata=`` of
:func:`save_npz`, read back by :func:`load_npz_metadata`): a JSON object
stored as the UTF-8 bytes of a ``uint8`` array under the entry
:data:`METADATA_KEY`. It needs no pickle either, is bounded to
:data:`MAX_METADATA_BYTES`, and :func:`load_npz` leaves it out of the arrays
it returns, so :meth:`~tinygrad_nn.nn.Module.load` reads such a file as any other.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import IO, Any

import numpy as np

from .value import Value

PathLike = str | os.PathLike[str]

__all__ = [
    "MAX_BYTES",
    "MAX_METADATA_BYTES",
    "METADATA_KEY",
    "CheckpointError",
    "atomic_write_bytes",
    "load_npz",
    "load_npz_metadata",
    "save_npz",
]

METADATA_KEY = "__metadata__"
"""The archive entry holding a checkpoint's JSON metadata (a reserved name: no array may use it)."""

MAX_METADATA_BYTES = 1 << 24
"""The largest metadata :func:`load_npz_metadata` reads (16 MiB of JSON)."""

# Array kinds a checkpoint may hold: bool, signed/unsigned int, float.
_NUMERIC_KINDS = "biuf"


class CheckpointError(ValueError):
    """A checkpoint file or state dict that cannot be used (bad file, key, shape or dtype)."""


def _as_saveable(key: Any, value: Any) -> np.ndarray:
    if not isinstance(key, str) or not key:
        raise CheckpointError(f"save_npz: keys must be non-empty strings, got {key!r}")
    if "/" in key or "\\" in key or key.startswith(".") or key.endswith(".npy"):
        # Members are stored as key + ".npy" and np.load strips that suffix: "a.npy" would read back as "a".
        raise CheckpointError(f"save_npz: key {key!r} is not a valid archive member name")
    arr = np.asarray(value.data if isinstance(value, Value) else value)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise CheckpointError(
            f"save_npz: entry {key!r} has dtype {arr.dtype}; only numeric arrays are saved "
            "(object arrays would need pickle)"
        )
    return arr


def _default_mode(path: str) -> int:
    """Permissions for the new file: the old file's, else what a plain open() would give."""
    try:
        return os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_npz(path: PathLike, arrays: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
    """Write ``arrays`` (name -> array) to ``path`` as an uncompressed ``.npz``, atomically.

    The file is written exactly at ``path`` (no ``.npz`` suffix is added). If
    anything fails before the final rename, ``path`` keeps its old content.
    ``metadata``, a JSON-serializable mapping (finite numbers only), is stored
    in the same file under :data:`METADATA_KEY`, so the arrays and their
    description are replaced together.
    """
    if not isinstance(arrays, Mapping):
        raise TypeError(f"save_npz: arrays must be a mapping of name -> array, got {type(arrays).__name__}")
    if METADATA_KEY in arrays:
        raise CheckpointError(f"save_npz: the key {METADATA_KEY!r} is reserved for the metadata")
    checked = {key: _as_saveable(key, value) for key, value in arrays.items()}
    if metadata is not None:
        checked[METADATA_KEY] = _encode_metadata(metadata)

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, arr in checked.items():
                with zf.open(key + ".npy", mode="w", force_zip64=True) as member:
                    np.lib.format.write_array(member, arr, allow_pickle=False)

    _atomic_write("save_npz", path, write)


def _encode_metadata(metadata: Mapping[str, Any]) -> np.ndarray:
    if not isinstance(metadata, Mapping):
        raise TypeError(f"save_npz: metadata must be a mapping, got {type(metadata).__name__}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"save_npz: the metadata is not JSON-serializable ({exc})") from None
    raw = text.encode("utf-8")
    if len(raw) > MAX_METADATA_BYTES:
        raise CheckpointError(
            f"save_npz: the metadata takes {len(raw):,} bytes as JSON, more than the limit of "
            f"{MAX_METADATA_BYTES:,}"
        )
    return np.frombuffer(raw, dtype=np.uint8).copy()


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: ``path`` holds either its old or its new content."""
    _atomic_write("atomic_write_bytes", path, lambda f: f.write(data))


def _atomic_write(who: str, path: PathLike, write: Callable[[IO[bytes]], Any]) -> None:
    """Run ``write`` on a temp file beside ``path``, flush and fsync it, then rename it over ``path``.

    A symlink is followed (its target gets the new content; the link stays),
    a file without write permission is refused rather than replaced (even for
    root, who could), and temp files left beside ``path`` by a save that was
    killed are removed.
    """
    target = os.path.realpath(os.fspath(path))
    folder, name = os.path.split(target)
    if os.path.isdir(target):
        raise IsADirectoryError(f"{who}: {target} is a directory")
    try:
        if os.stat(target).st_mode & 0o222 == 0:
            raise PermissionError(f"{who}: {target} is read-only; not replacing it (chmod u+w to allow)")
    except FileNotFoundError:
        pass
    mode = _default_mode(target)
    _remove_stale_temps(folder, name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise type(exc)(exc.errno, f"{who}: cannot write {target} ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def _remove_stale_temps(folder: str, name: str) -> None:
    """Delete ``.{name}.{pid}.*.tmp`` files whose process no longer runs (a save that was killed)."""
    prefix = f".{name}."
    try:
        entries = os.listdir(folder)
    except OSError:
        return
    for entry in entries:
        if not (entry.startswith(prefix) and entry.endswith(".tmp")):
            continue
        pid = entry[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, entry))


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # someone else's process (or unknowable): leave its file alone
    return True


def _fsync_dir(folder: str) -> None:
    # Make the rename itself durable; not possible (nor needed) on every platform.
    try:
        dfd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


MAX_BYTES = 1 << 32
"""The largest array :func:`load_npz` reads by default (4 GiB)."""


def load_npz(
    path: PathLike,
    expected: Mapping[str, tuple[int, ...]] | None = None,
    max_bytes: int = MAX_BYTES,
) -> dict[str, np.ndarray]:
    """Read every array of the ``.npz`` at ``path`` into a dict, never unpickling.

    Before any array is read, each entry's header is checked: the size it
    declares (and the archive member's uncompressed size) must be at most
    ``max_bytes``, and where ``expected`` maps the entry's name to a shape,
    the shapes must agree. So a crafted file cannot make the loader allocate
    more than the model needs.

    The metadata entry (:data:`METADATA_KEY`) is not among the arrays
    returned: read it with :func:`load_npz_metadata`.

    Raises :class:`FileNotFoundError` for a missing file and
    :class:`CheckpointError` (naming the file) for anything that is not a
    readable archive of numeric arrays: a truncated or corrupted file, a
    pickle, an object array, an entry too large or of the wrong shape.
    """
    where = os.fspath(path)
    with open(where, "rb") as f:  # a missing file raises FileNotFoundError as usual
        if not zipfile.is_zipfile(f):
            raise CheckpointError(
                f"{where}: not an .npz archive (the file is truncated, corrupted or of another format)"
            )
        f.seek(0)
        _check_headers(where, f, expected or {}, max_bytes)
        f.seek(0)
        out: dict[str, np.ndarray] = {}
        try:
            with np.load(f, allow_pickle=False) as npz:
                for key in npz.files:
                    if key == METADATA_KEY:
                        continue
                    arr = npz[key]
                    if not isinstance(arr, np.ndarray):
                        raise CheckpointError(f"{where}: entry {key!r} is not a .npy array")
                    if arr.dtype.kind not in _NUMERIC_KINDS:
                        raise CheckpointError(f"{where}: entry {key!r} has non-numeric dtype {arr.dtype}")
                    out[key] = arr
        except CheckpointError:
            raise
        except ValueError as exc:
            if "pickle" in str(exc).lower():
                raise CheckpointError(
                    f"{where}: refusing to load an object array (it would need pickle, which can run code)"
                ) from None
            raise CheckpointError(f"{where}: corrupted checkpoint ({exc})") from None
        except (OSError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
                zlib.error) as exc:  # fmt: skip
            raise CheckpointError(f"{where}: corrupted checkpoint ({type(exc).__name__}: {exc})") from None
    return out


def _check_headers(where: str, f: IO[bytes], expected: Mapping[str, tuple[int, ...]], max_bytes: int) -> None:
    """Check each member's declared sizes and header against the limits, reading no array data."""
    try:
        with zipfile.ZipFile(f) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue  # np.load reports it, as not an array
                key = info.filename[:-4]
                limit = min(max_bytes, MAX_METADATA_BYTES) if key == METADATA_KEY else max_bytes
                if info.file_size > limit + 65536:  # (a header is far smaller than 64 KiB)
                    raise CheckpointError(
                        f"{where}: entry {key!r} unpacks to {info.file_size:,} bytes, more than the "
                        f"limit of {limit:,}"
                    )
                with zf.open(info) as member:
                    shape, dtype = _read_header(member)
                if dtype.hasobject:
                    what = "an object array (it would need pickle, which can run code)"
                    raise CheckpointError(f"{where}: refusing to load {what}")
                nbytes = math.prod(shape) * dtype.itemsize
                if nbytes > limit:
                    raise CheckpointError(
                        f"{where}: entry {key!r} declares shape {shape} ({nbytes:,} bytes), more than the "
                        f"limit of {limit:,}"
                    )
                want = expected.get(key)
                if want is not None and tuple(shape) != tuple(want):
                    raise CheckpointError(
                        f"{where}: shape mismatch for {key!r}: the checkpoint has {tuple(shape)}, "
                        f"the model has {tuple(want)}"
                    )
    except CheckpointError:
        raise
    except (ValueError, OSError, EOFError, KeyError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
            zlib.error) as exc:  # fmt: skip
        raise CheckpointError(f"{where}: corrupted checkpoint ({type(exc).__name__}: {exc})") from None


def _read_header(member: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    """The shape and dtype an ``.npy`` stream declares (its position is left at the data)."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    return tuple(shape), dtype


def load_npz_metadata(path: PathLike) -> dict[str, Any] | None:
    """The metadata stored in the ``.npz`` at ``path`` by ``save_npz(..., metadata=...)``, or None.

    None when the file has no metadata. Only that entry is read, after its
    declared size is checked against :data:`MAX_METADATA_BYTES`; nothing is
    unpickled. Raises :class:`FileNotFoundError` for a missing file and
    :class:`CheckpointError` (naming the file) when the file is not a
    readable archive or the entry is not a 1-d ``uint8`` array holding a
    UTF-8 JSON object.
    """
    where = os.fspath(path)
    with open(where, "rb") as f:
        if not zipfile.is_zipfile(f):
            raise CheckpointError(
                f"{where}: not an .npz archive (the file is truncated, corrupted or of another format)"
            )
        f.seek(0)
        try:
            with zipfile.ZipFile(f) as zf:
                try:
                    info = zf.getinfo(METADATA_KEY + ".npy")
                except KeyError:
                    return None
                if info.file_size > MAX_METADATA_BYTES + 65536:
                    raise CheckpointError(
                        f"{where}: the metadata unpacks to {info.file_size:,} bytes, more than the limit of "
                        f"{MAX_METADATA_BYTES:,}"
                    )
                with zf.open(info) as member:
                    shape, dtype = _read_header(member)
                    if dtype != np.dtype(np.uint8) or len(shape) != 1:
                        raise CheckpointError(
                            f"{where}: the metadata entry must be a 1-d uint8 array (UTF-8 JSON), "
                            f"got dtype {dtype} and shape {shape}"
                        )
                    if shape[0] > MAX_METADATA_BYTES:
                        raise CheckpointError(
                            f"{where}: the metadata declares {shape[0]:,} bytes, more than the limit of "
                            f"{MAX_METADATA_BYTES:,}"
                        )
                    raw = member.read()  # to the end, so the zip's checksum is verified
        except CheckpointError:
            raise
        except (ValueError, OSError, EOFError, RuntimeError, NotImplementedError, zipfile.BadZipFile,
                zlib.error) as exc:  # fmt: skip
            raise CheckpointError(f"{where}: corrupted metadata ({type(exc).__name__}: {exc})") from None
    if len(raw) != shape[0]:
        raise CheckpointError(
            f"{where}: corrupted metadata (it declares {shape[0]:,} bytes and holds {len(raw):,})"
        )
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # a JSONDecodeError or UnicodeDecodeError is a ValueError
        raise CheckpointError(f"{where}: the metadata is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{where}: the metadata must be a JSON object, got {type(value).__name__}")
    return value


def _refuse_constant(name: str) -> Any:
    # save_npz never writes NaN or Infinity (allow_nan=False): a file that has them was not written by it.
    raise ValueError(f"non-finite number {name}")
