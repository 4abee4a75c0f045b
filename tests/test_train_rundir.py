"""tinygrad_nn.train.rundir: a run directory is replaced as one unit, whatever stops the writer."""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tinygrad_nn.train import TrainConfig, TrainConfigError, TrainInterrupted, loop, reporting, rundir, train

ROOT = Path(__file__).resolve().parent.parent


def _train(out, **options):
    return train(TrainConfig(out=out, **options), quiet=True, stdout=io.StringIO())


def _dead_pid() -> int:
    code = "import os; print(os.getpid())"  # a process that has exited: its pid runs nothing
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(done.stdout)


def _fake_plot(path, history, task, title):
    path.write_bytes(b"\x89PNG fake")
    return True


def test_a_new_run_replaces_every_file_of_the_previous_one(tmp_path, monkeypatch, complete_run):
    run = tmp_path / "run"
    monkeypatch.setattr(reporting, "_plot", _fake_plot)  # as with matplotlib
    first = _train(run, epochs=2).metadata
    assert sorted(p.name for p in run.iterdir()) == ["loss.png", "metrics.csv", "metrics.json", "model.npz"]
    exchanged = []
    real_exchange = rundir._exchange
    monkeypatch.setattr(
        rundir, "_exchange", lambda a, b: exchanged.append(real_exchange(a, b)) or exchanged[-1]
    )
    monkeypatch.setattr(reporting, "_plot", lambda *args: False)  # as without matplotlib
    second = _train(run, epochs=3).metadata
    # The old plot went with the old run instead of staying beside the new model.
    assert sorted(p.name for p in run.iterdir()) == ["metrics.csv", "metrics.json", "model.npz"]
    assert first is not None and second is not None and first.run_id != second.run_id
    assert complete_run(run).run_id == second.run_id
    assert exchanged == ([True] if sys.platform.startswith("linux") else [False])
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no temporary directory left


def test_the_two_rename_fallback_replaces_the_run_and_undoes_a_failed_second_rename(
    tmp_path, monkeypatch, complete_run
):
    run = tmp_path / "run"
    monkeypatch.setattr(rundir, "_exchange", lambda a, b: False)
    _train(run, epochs=1)
    previous = complete_run(run)
    renames = []
    real_rename = os.rename

    def failing_second(src, dst):
        renames.append(Path(dst).name)
        if len(renames) == 2:
            raise OSError(28, "No space left on device")
        real_rename(src, dst)

    monkeypatch.setattr(rundir.os, "rename", failing_second)
    with pytest.raises(OSError, match="No space left"):
        _train(run, epochs=2)
    assert renames[0].endswith(".old") and renames[1] == "run" and renames[2] == "run"  # put back
    assert complete_run(run).run_id == previous.run_id
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    monkeypatch.setattr(rundir.os, "rename", real_rename)
    third = _train(run, epochs=2).metadata
    assert third is not None and complete_run(run).run_id == third.run_id


def test_a_directory_holding_other_files_is_refused_and_left_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "model.npz").write_bytes(b"an old checkpoint")
    with pytest.raises(TrainConfigError, match=r"--out: .* holds files that are not a run's \(notes\.txt\)"):
        _train(tmp_path / ".", epochs=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz", "notes.txt"]
    assert (tmp_path / "model.npz").read_bytes() == b"an old checkpoint"


def test_the_working_directory_and_its_parents_are_refused(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", str(work), ".."):
        with pytest.raises(TrainConfigError, match="is the working directory or holds it"):
            _train(out, epochs=1)
    assert list(work.iterdir()) == []


def test_leftovers_of_killed_runs_are_removed_and_a_cut_swap_is_undone(tmp_path, complete_run):
    run = tmp_path / "run"
    _train(run, epochs=1)
    previous = complete_run(run)
    dead, alive = _dead_pid(), os.getppid()
    # A kill between the fallback's two renames: the previous run under .old, the new one half-written.
    run.rename(tmp_path / f".run.{dead}.abc.old")
    (tmp_path / f".run.{dead}.abc.new").mkdir()
    (tmp_path / f".run.{dead}.abc.new" / "model.npz").write_bytes(b"half")
    (tmp_path / f".run.{dead}.xyz.new").mkdir()  # an older kill, while writing
    (tmp_path / f".run.{alive}.def.new").mkdir()  # a live process's run in progress: not ours to touch
    (tmp_path / f".other.{dead}.ghi.new").mkdir()  # another directory's
    rundir.recover(run)
    assert complete_run(run).run_id == previous.run_id
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["run", f".run.{alive}.def.new", f".other.{dead}.ghi.new"])
    (tmp_path / f".run.{dead}.q.new").mkdir()
    _train(run, epochs=2)  # a run repairs before it starts
    assert not (tmp_path / f".run.{dead}.q.new").exists() and complete_run(run).epochs_completed == 2


@pytest.mark.parametrize("step", ["_write_files", "_print_final"])
def test_a_ctrl_c_while_the_run_is_written_waits_until_it_is_in_place(
    tmp_path, monkeypatch, complete_run, step
):
    real = getattr(loop, step)

    def after_a_ctrl_c(*args):
        os.kill(os.getpid(), signal.SIGINT)  # arrives as the files are written, or the summary printed
        return real(*args)

    monkeypatch.setattr(loop, step, after_a_ctrl_c)
    run = tmp_path / "run"
    try:
        with pytest.raises(TrainInterrupted) as caught:
            _train(run, epochs=2)
    except KeyboardInterrupt:
        pytest.fail("the Ctrl-C cut the writing of the run short")
    assert str(caught.value) == f"interrupted while saving: the complete run (2/2 epochs) was saved to {run}"
    meta = complete_run(run)
    assert meta.epochs_completed == 2 and not meta.interrupted
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# A child that trains small runs into one directory, over and over, until it is killed.
_LOOP = """
import io, itertools, sys
sys.modules["matplotlib"] = None  # no plot: short runs whether or not matplotlib is installed
from tinygrad_nn.train import TrainConfig, rundir, train
if sys.argv[2] == "fallback":
    rundir._exchange = lambda a, b: False
for i in itertools.count():
    config = TrainConfig(dataset="xor", hidden=(4,), epochs=1 + i % 3, seed=i, out=sys.argv[1])
    train(config, quiet=True, stdout=io.StringIO())
    print("saved", flush=True)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
@pytest.mark.parametrize(("mode", "kills"), [("exchange", 8), ("fallback", 6)])
def test_kills_at_random_moments_leave_the_previous_or_the_new_complete_run(
    tmp_path, mode, kills, complete_run
):
    if mode == "exchange" and rundir._renameat2() is None:
        pytest.skip("renameat2 is Linux only")
    run = tmp_path / "run"
    rng = random.Random(15)
    seen: list[str] = []
    for _ in range(kills):
        child = subprocess.Popen(
            [sys.executable, "-c", _LOOP, str(run), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        guard = threading.Timer(60, child.kill)  # bounds the wait for the first run if the child hangs
        guard.start()
        try:
            assert child.stdout is not None and child.stdout.readline() == "saved\n", child.communicate()[1]
        finally:
            guard.cancel()
        threading.Event().wait(rng.uniform(0.0, 0.15))  # the runs take a few tens of ms each
        child.kill()
        _, err = child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL, err  # it was still running, not dead of an error
        if mode == "fallback" and not run.exists():
            rundir.recover(run)  # killed between the two renames: what the next run does first
        assert run.is_dir()
        meta = complete_run(run)
        # Each child saved a run before it was killed: this one, or one it was replacing.
        assert meta.run_id not in seen
        seen.append(meta.run_id)
    rundir.recover(run)
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
