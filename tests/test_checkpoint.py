"""Checkpoints: atomic saves, pickle-free loads, all-or-nothing state loading."""

import io
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from tinygrad_nn import checkpoint, nn, optim
from tinygrad_nn.checkpoint import CheckpointError, atomic_write_bytes, load_npz, save_npz


def make_model(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return nn.Sequential(
        nn.Dense(3, 4, rng=rng, dtype=dtype), nn.Tanh(), nn.Dense(4, 2, rng=rng, dtype=dtype)
    )


class Scalars(nn.Module):
    """Scalar parameters (plain floats) next to an array one."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(1.5)
        self.w = nn.ParameterList([0.25, -2.0])
        self.v = nn.Parameter(np.arange(3.0))


def assert_same_state(m1, m2):
    s1, s2 = m1.state_dict(), m2.state_dict()
    assert list(s1) == list(s2)
    for k in s1:
        assert s1[k].dtype == s2[k].dtype
        np.testing.assert_array_equal(s1[k], s2[k])


# -- round trips -------------------------------------------------------------------


def test_state_dict_round_trip_in_memory():
    src, dst = make_model(0), make_model(1)
    state = src.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    result = dst.load_state_dict(state)
    assert result == nn.LoadResult([], [])
    assert_same_state(src, dst)
    # the loaded model owns its data: changing the state dict afterwards changes nothing
    state["0.weight"][...] = 99.0
    assert not np.any(dst[0].weight.data == 99.0)


def test_state_dict_is_a_copy():
    model = make_model()
    state = model.state_dict()
    state["0.bias"][...] = 7.0
    assert not np.any(model[0].bias.data == 7.0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_save_load_round_trip(tmp_path, dtype):
    path = tmp_path / "model.npz"
    src, dst = make_model(0, dtype), make_model(1, dtype)
    src.save(path)
    assert path.exists() and os.listdir(tmp_path) == ["model.npz"]  # no temp file left behind
    dst.load(path)
    assert_same_state(src, dst)
    assert dst[0].weight.dtype == dtype
    x = np.ones((2, 3), dtype=dtype)
    np.testing.assert_array_equal(src(x).data, dst(x).data)


def test_scalar_parameters_round_trip(tmp_path):
    src, dst = Scalars(), Scalars()
    for p in dst.parameters():
        p.data = p.data * 0 if isinstance(p.data, np.ndarray) else 0.0
    path = tmp_path / "scalars.npz"
    src.save(path)
    dst.load(path)
    assert type(dst.a.data) is float and dst.a.data == 1.5
    assert [p.data for p in dst.w] == [0.25, -2.0] and all(type(p.data) is float for p in dst.w)
    np.testing.assert_array_equal(dst.v.data, np.arange(3.0))


def test_checkpoint_is_plain_npz(tmp_path):
    path = tmp_path / "m.npz"
    model = make_model()
    model.save(str(path))  # str paths work as well as Path objects
    with np.load(path, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(model.state_dict())


def test_save_uses_the_exact_path(tmp_path):
    path = tmp_path / "weights.ckpt"
    make_model().save(path)
    assert os.listdir(tmp_path) == ["weights.ckpt"]


def test_save_overwrites_and_keeps_permissions(tmp_path):
    path = tmp_path / "m.npz"
    make_model(0).save(path)
    os.chmod(path, 0o640)
    make_model(1).save(path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    loaded = make_model(2)
    loaded.load(path)
    assert_same_state(loaded, make_model(1))


# -- bad files ---------------------------------------------------------------------


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        make_model().load(tmp_path / "nope.npz")


def test_truncated_file(tmp_path):
    path = tmp_path / "m.npz"
    make_model().save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    model = make_model(5)
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"m\.npz.*truncated"):
        model.load(path)
    assert_same_state(model, make_model(5))
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_corrupted_bytes(tmp_path):
    path = tmp_path / "m.npz"
    make_model().save(path)
    data = bytearray(path.read_bytes())
    # flip bytes inside the first member's array data (after its local header and .npy header)
    start = data.index(b"\x93NUMPY") + 140
    data[start : start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"m\.npz: corrupted"):
        checkpoint.load_npz(path)


def test_empty_and_garbage_files(tmp_path):
    for name, content in [("empty.npz", b""), ("text.npz", b"hello, not a zip")]:
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(CheckpointError, match=name):
            make_model().load(path)


def test_pickle_file_rejected(tmp_path):
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"0.weight": np.zeros((3, 4))}))
    with pytest.raises(CheckpointError, match=r"evil\.npz"):
        make_model().load(path)


def test_object_array_rejected(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **{"0.weight": np.array([{"x": 1}, None], dtype=object)})  # written with pickle
    with pytest.raises(CheckpointError, match="pickle"):
        make_model().load(path)


def test_non_npy_member_rejected(tmp_path):
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("0.weight", b"raw bytes, not an array")
    with pytest.raises(CheckpointError, match=r"not a \.npy array"):
        checkpoint.load_npz(path)


def test_save_refuses_object_arrays(tmp_path):
    with pytest.raises(CheckpointError, match="object arrays would need pickle"):
        checkpoint.save_npz(tmp_path / "x.npz", {"a": np.array([None], dtype=object)})
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("key", ["", "a/b", ".hidden", 3])
def test_save_refuses_bad_keys(tmp_path, key):
    with pytest.raises(CheckpointError):
        checkpoint.save_npz(tmp_path / "x.npz", {key: np.zeros(2)})


# -- atomicity -----------------------------------------------------------------------


def _old_checkpoint(tmp_path):
    path = tmp_path / "m.npz"
    old = make_model(0)
    old.save(path)
    return path, path.read_bytes()


def test_failure_while_writing_leaves_old_file(tmp_path, monkeypatch):
    path, old_bytes = _old_checkpoint(tmp_path)
    calls = []
    real_write = np.lib.format.write_array

    def failing_write(fp, array, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # half-way through the archive
            raise OSError("disk full")
        return real_write(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing_write)
    with pytest.raises(OSError, match="disk full"):
        make_model(1).save(path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["m.npz"]  # the temporary file was removed
    monkeypatch.undo()
    restored = make_model(2)
    restored.load(path)
    assert_same_state(restored, make_model(0))


def test_failure_at_rename_leaves_old_file(tmp_path, monkeypatch):
    path, old_bytes = _old_checkpoint(tmp_path)

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        make_model(1).save(path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["m.npz"]


def test_interrupt_during_fsync_leaves_old_file(tmp_path, monkeypatch):
    path, old_bytes = _old_checkpoint(tmp_path)

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        make_model(1).save(path)
    assert path.read_bytes() == old_bytes
    assert os.listdir(tmp_path) == ["m.npz"]


# -- validation before any change --------------------------------------------------------


def test_wrong_shape_changes_nothing():
    model = make_model(0)
    before = model.state_dict()
    state = make_model(1).state_dict()
    state["2.weight"] = np.zeros((5, 2))  # the last entry is wrong; earlier ones are fine
    with pytest.raises(CheckpointError, match=r"'2\.weight'.*\(5, 2\).*\(4, 2\)"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_wrong_shape_in_file_names_file_key_and_shapes(tmp_path):
    path = tmp_path / "other.npz"
    nn.Sequential(nn.Dense(3, 5), nn.Tanh(), nn.Dense(5, 2)).save(path)
    model = make_model(0)
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"other\.npz.*'0\.weight'.*\(3, 5\).*\(3, 4\)"):
        model.load(path)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_dtype_mismatch_changes_nothing():
    model = make_model(0)
    before = model.state_dict()
    state = {k: v.astype(np.float32) for k, v in make_model(1).state_dict().items()}
    with pytest.raises(CheckpointError, match=r"dtype mismatch for '0\.weight'.*float32.*float64"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_missing_and_unexpected_keys():
    model = make_model(0)
    state = make_model(1).state_dict()
    del state["2.bias"]
    state["3.weight"] = np.zeros(2)
    before = model.state_dict()
    with pytest.raises(CheckpointError, match=r"missing keys \['2\.bias'\].*unexpected keys \['3\.weight'\]"):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.bias"] and result.unexpected_keys == ["3.weight"]
    np.testing.assert_array_equal(model[2].weight.data, state["2.weight"])
    np.testing.assert_array_equal(model[2].bias.data, before["2.bias"])  # missing: unchanged


def test_non_numeric_state_entry():
    model = make_model()
    state = model.state_dict()
    state["0.bias"] = np.array(["a", "b", "c", "d"])
    with pytest.raises(CheckpointError, match="must be numeric"):
        model.load_state_dict(state)
    with pytest.raises(TypeError, match="mapping"):
        model.load_state_dict([("0.bias", np.zeros(4))])


def test_optimizer_state_saves_with_checkpoint(tmp_path):
    model = make_model()
    opt = optim.Adam(model.parameters(), lr=0.01)
    x, t = np.ones((4, 3)), np.zeros((4, 2))
    nn.mse_loss(model(x), t).backward()
    opt.step()
    path = tmp_path / "opt.npz"
    checkpoint.save_npz(path, opt.state_dict())
    fresh = optim.Adam(model.parameters(), lr=0.5)
    fresh.load_state_dict(checkpoint.load_npz(path))
    assert fresh.lr == 0.01
    for k, v in opt.state_dict().items():
        np.testing.assert_array_equal(fresh.state_dict()[k], v)


def test_keys_ending_in_npy_are_refused(tmp_path):
    # np.load strips the ".npy" of member names, so "a.npy" would read back as "a".
    with pytest.raises(CheckpointError, match=r"'a\.npy' is not a valid archive member name"):
        save_npz(tmp_path / "x.npz", {"a.npy": np.zeros(1), "a": np.ones(1)})


def test_save_into_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "nodir" / "x.npz"
    with pytest.raises(FileNotFoundError, match=r"save_npz: cannot write .*nodir.x\.npz"):
        save_npz(target, {"a": np.ones(1)})


def test_atomic_write_bytes_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    target = tmp_path / "m.csv"
    atomic_write_bytes(target, b"old")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.csv"]
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"


def test_save_refuses_to_replace_a_read_only_checkpoint(tmp_path):
    path = tmp_path / "model.npz"
    save_npz(path, {"w": np.ones(2)})
    path.chmod(0o444)
    try:
        with pytest.raises(PermissionError, match="read-only; not replacing it"):
            save_npz(path, {"w": np.zeros(2)})  # root could write it: refused all the same
        np.testing.assert_array_equal(load_npz(path)["w"], np.ones(2))
    finally:
        path.chmod(0o644)


def test_save_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "real.npz"
    save_npz(target, {"w": np.ones(2)})
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    save_npz(link, {"w": np.full(2, 7.0)})
    assert link.is_symlink()
    np.testing.assert_array_equal(load_npz(target)["w"], [7.0, 7.0])


def test_save_removes_temp_files_left_by_a_killed_save(tmp_path):
    path = tmp_path / "model.npz"
    code = "import os; print(os.getpid())"  # a process that has exited: its pid runs nothing
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    stale = tmp_path / f".model.npz.{dead}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / f".other.npz.{dead}.abc123.tmp"  # another file's: not ours to remove
    other.write_bytes(b"x")
    live = tmp_path / f".model.npz.{os.getppid()}.xyz.tmp"  # a running process's save in progress
    live.write_bytes(b"x")
    save_npz(path, {"w": np.ones(2)})
    assert not stale.exists() and other.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, other.name, live.name])


def _npz_with_header(path, key: str, shape: tuple[int, ...], payload: bytes = b"", compress: bool = False):
    """An .npz whose one entry's header declares ``shape`` (float64) whatever data follows."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=mode) as zf:
        zf.writestr(key + ".npy", header.getvalue() + payload)


def test_load_refuses_a_header_declaring_a_huge_array_before_allocating(tmp_path):
    path = tmp_path / "crafted.npz"
    _npz_with_header(path, "w", (1 << 40,))  # 8 TiB declared in a few hundred bytes
    assert path.stat().st_size < 1000
    with pytest.raises(CheckpointError, match=r"declares shape \(1099511627776,\).*more than the limit"):
        load_npz(path)


def test_load_refuses_a_member_that_unpacks_beyond_the_limit(tmp_path):
    path = tmp_path / "bomb.npz"
    _npz_with_header(path, "w", (4,), payload=bytes(50_000_000), compress=True)  # zeros compress to ~50 KB
    assert path.stat().st_size < 1_000_000
    limit = r"unpacks to 50,000,\d+ bytes, more than the limit of 1,000,000"
    with pytest.raises(CheckpointError, match=limit):
        load_npz(path, max_bytes=1_000_000)


def test_module_load_checks_shapes_against_the_model_before_reading(tmp_path):
    model = nn.Sequential(nn.Dense(3, 2, rng=0))
    path = tmp_path / "big.npz"
    _npz_with_header(path, "0.weight", (20_000, 20_000))  # 3.2 GB declared, under the default limit
    before = model[0].weight.data.copy()
    with pytest.raises(CheckpointError, match=r"shape mismatch for '0.weight'.*\(20000, 20000\).*\(3, 2\)"):
        model.load(path)
    np.testing.assert_array_equal(model[0].weight.data, before)


# -- metadata -------------------------------------------------------------------------------------------


def test_metadata_travels_in_the_same_file_and_stays_out_of_the_arrays(tmp_path):
    path = tmp_path / "model.npz"
    meta = {"layers": [4, 10, 3], "mean": [0.1, -2.5e-300], "name": "iris ü", "nested": {"ok": True}}
    save_npz(path, {"w": np.ones(2)}, metadata=meta)
    assert checkpoint.load_npz_metadata(path) == meta
    assert set(load_npz(path)) == {"w"}
    with np.load(path) as plain:  # still a plain .npz of numeric arrays
        assert set(plain.files) == {"w", checkpoint.METADATA_KEY}
        assert plain[checkpoint.METADATA_KEY].dtype == np.uint8
    model = nn.Sequential(nn.Dense(2, 1, rng=0))
    save_npz(path, model.state_dict(), metadata={"kind": "test"})
    nn.Sequential(nn.Dense(2, 1, rng=1)).load(path)  # strict load: the metadata is no unexpected key
    save_npz(path, {"w": np.ones(2)})
    assert checkpoint.load_npz_metadata(path) is None


def test_metadata_that_json_cannot_hold_exactly_is_refused_and_nothing_written(tmp_path):
    path = tmp_path / "model.npz"
    for bad, why in [
        ({"x": float("nan")}, "not JSON-serializable"),
        ({"x": object()}, "not JSON-serializable"),
    ]:
        with pytest.raises(CheckpointError, match=why):
            save_npz(path, {"w": np.ones(2)}, metadata=bad)
    with pytest.raises(CheckpointError, match="'__metadata__' is reserved"):
        save_npz(path, {checkpoint.METADATA_KEY: np.ones(2)})
    assert not path.exists()


def _npz_with_metadata_entry(path, data: np.ndarray) -> None:
    with zipfile.ZipFile(path, "w") as zf, zf.open(checkpoint.METADATA_KEY + ".npy", "w") as member:
        np.lib.format.write_array(member, data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros(3), r"must be a 1-d uint8 array .*got dtype float64"),
        (np.zeros((2, 2), np.uint8), r"must be a 1-d uint8 array .*shape \(2, 2\)"),
        (np.frombuffer(b"\xff\xfe{}", np.uint8), "not valid UTF-8 JSON"),
        (np.frombuffer(b'{"a": 1', np.uint8), "not valid UTF-8 JSON"),
        (np.frombuffer(b'{"a": NaN}', np.uint8), "not valid UTF-8 JSON .*non-finite number NaN"),
        (np.frombuffer(b"[" * 100_000, np.uint8), "not valid UTF-8 JSON"),
        (np.frombuffer(b"[1, 2]", np.uint8), "must be a JSON object, got list"),
    ],
)
def test_corrupt_metadata_is_a_checkpoint_error_naming_the_file(tmp_path, data, message):
    path = tmp_path / "model.npz"
    _npz_with_metadata_entry(path, data)
    with pytest.raises(CheckpointError, match=f"model.npz: .*{message}"):
        checkpoint.load_npz_metadata(path)


def test_metadata_size_is_bounded_before_it_is_read(tmp_path):
    path = tmp_path / "model.npz"
    header = io.BytesIO()
    declared = {"descr": "|u1", "fortran_order": False, "shape": (1 << 40,)}
    np.lib.format.write_array_header_1_0(header, declared)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(checkpoint.METADATA_KEY + ".npy", header.getvalue())
    limit = "more than the limit of 16,777,216"
    with pytest.raises(CheckpointError, match=rf"declares shape \(1099511627776,\).*{limit}"):
        load_npz(path)  # even when only the arrays are wanted
    with pytest.raises(CheckpointError, match=f"the metadata declares 1,099,511,627,776 bytes, {limit}"):
        checkpoint.load_npz_metadata(path)
    _npz_with_header(path, checkpoint.METADATA_KEY, (4,), payload=bytes(20_000_000), compress=True)
    with pytest.raises(CheckpointError, match=rf"the metadata unpacks to 20,000,\d+ bytes, {limit}"):
        checkpoint.load_npz_metadata(path)
    with pytest.raises(CheckpointError, match=r"not an \.npz archive"):
        checkpoint.load_npz_metadata(_write(tmp_path / "text.npz", b"hello"))


def _write(path, data: bytes):
    path.write_bytes(data)
    return path
