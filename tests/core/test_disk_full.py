"""A full disk (or quota) ends a run with one line naming the file and the command that resumes it,
status `failed`, no temporary file left; resumed once there is space, the run equals an uninterrupted one.

The disk is filled without filling one: tests/scripts/disk_full.py makes the N-th write to a named
file fail with ENOSPC in the child process only, the way a full disk makes it fail.
"""

import contextlib
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from lib.errors import DiskFull, disk_full_reason
from lib.runs.checkpoint import checkpoint_epoch
from lib.runs.run_dir import LOCK_FILE, RunDirectory
from lib.storage import atomic
from tests.core.test_resume import assert_same_run, only_run_dir, run
from tests.helpers import SCRIPTS

FULL = os.strerror(errno.ENOSPC)
GLOROT = ["--dataset", "digits", "--units", "8", "--epochs", "4", "--steps_per_epoch", "10", "--probe_size", "40", "--seed", "7"]
RECORD_KINDS = ("activations", "preactivations", "backprop_gradients", "gradients", "weights")


def on_full_disk(faults, argv, output_dir=None):
    where = [] if output_dir is None else ["--output_dir", str(output_dir)]
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, "disk_full.py"), faults, *argv, *where],
                          capture_output=True, text=True, timeout=600)


def leftovers(run_dir):
    return [name for _, _, names in os.walk(run_dir) for name in names if atomic.is_temporary(name) or name == LOCK_FILE]


def assert_stopped(result, run_dir, file, *, state="failed", note=""):
    """One line on stderr (TensorFlow's notices aside, none of ours before it), exit code 1, status and files."""
    line = (f"cannot write {run_dir / file}: {FULL}{note}; free some space, then continue with: "
            f"experiment.py resume {run_dir}")
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == f"error: {line}", result.stderr[-2000:]
    assert "Traceback" not in result.stderr and result.stderr.count("error:") == 1, result.stderr[-2000:]
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == state
    if state == "failed":
        assert (status["reason"], status["last_epoch"]) == (line, checkpoint_epoch(str(run_dir)))
    assert leftovers(run_dir) == []


def test_full_disk_stops_in_one_line_and_the_resumed_run_equals_the_uninterrupted_run(tmp_path):
    whole = run(GLOROT, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    output_dir = tmp_path / "full"
    # an epoch table, mid-write (its 9th dataset: in epoch 1)
    first = on_full_disk("history.h5.partial@9", GLOROT, output_dir)
    run_dir = only_run_dir(output_dir)
    assert_stopped(first, run_dir, "history.h5")
    # a checkpoint; then status.json, on the same full disk, cannot say so: it keeps 'running'
    second = on_full_disk("checkpoints/epoch3.h5.partial@3,status.json@2", ["resume", str(run_dir)])
    assert_stopped(second, run_dir, "checkpoints/epoch3.h5", state="running",
                   note=f" ({run_dir / 'status.json'} could not be updated either: it still says 'running')")
    # a record, through its own writer
    third = on_full_disk("records/epoch4.h5.partial@2", ["resume", str(run_dir)])
    assert_stopped(third, run_dir, "records/epoch4.h5")
    assert checkpoint_epoch(str(run_dir)) == 3
    final = on_full_disk("", ["resume", str(run_dir)])  # space freed
    assert final.returncode == 0, final.stderr[-2000:]
    assert_same_run(run_dir, only_run_dir(tmp_path / "whole"), RECORD_KINDS)
    assert leftovers(run_dir) == []


def test_a_run_stopped_after_its_last_epoch_before_its_results_resumes_to_the_same_results(tmp_path):
    """A full disk at results.json, after the last epoch's checkpoint: `failed`, and resume (nothing left to
    train) evaluates and writes what the uninterrupted run wrote."""
    whole = run(GLOROT, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    stopped = on_full_disk("results.json@1", GLOROT, tmp_path / "full")
    run_dir = only_run_dir(tmp_path / "full")
    assert_stopped(stopped, run_dir, "results.json")
    assert checkpoint_epoch(str(run_dir)) == 4 and not (run_dir / "results.json").exists()
    resumed = on_full_disk("", ["resume", str(run_dir)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((run_dir / "status.json").read_text())["state"] == "done"
    assert (json.loads((run_dir / "results.json").read_text())
            == json.loads((only_run_dir(tmp_path / "whole") / "results.json").read_text()))
    assert_same_run(run_dir, only_run_dir(tmp_path / "whole"), RECORD_KINDS)


def test_a_full_disk_while_creating_the_run_leaves_nothing(tmp_path):
    result = on_full_disk("argv.txt@1", ["--dataset", "digits", "--units", "8", "--epochs", "1"], tmp_path)
    run_dir = tmp_path / "digits" / "tanh-random-four_layers"
    assert result.returncode == 1, result.stderr[-2000:]
    assert result.stderr.splitlines()[-1] == f"error: cannot write {run_dir / 'argv.txt'}: {FULL}; free some space, then try again"
    assert not run_dir.exists()  # so the same command runs again as it is


def full_fsync(descriptor):
    raise OSError(errno.EDQUOT, os.strerror(errno.EDQUOT))


def test_text_write_on_a_full_quota_names_the_file_and_keeps_the_old_content(tmp_path, monkeypatch):
    path = tmp_path / "status.json"
    atomic.write_text(str(path), "old\n")
    monkeypatch.setattr(os, "fsync", full_fsync)
    with pytest.raises(DiskFull) as stopped:
        atomic.write_text(str(path), "new\n")
    assert str(stopped.value) == f"cannot write {path}: {os.strerror(errno.EDQUOT)}; free some space, then try again"
    assert os.listdir(tmp_path) == ["status.json"] and path.read_text() == "old\n"


def test_a_library_writers_full_disk_becomes_one_line(tmp_path):
    """An OSError from a writer initlab does not own (Keras weight files, through h5py) is raised again as
    DiskFull by the run's final status, naming the file h5py names in its message."""
    run_dir = RunDirectory.create(str(tmp_path / "run"), overwrite=False, config_json="{}", argv=["experiment.py"])
    weights = tmp_path / "run" / "best.partial.weights.h5"
    weights.write_bytes(b"half")
    h5py_error = OSError(errno.ENOSPC, f"Unable to synchronously create file (file write failed: filename = '{weights}', "
                                       "errno = 28, error message = 'No space left on device')")
    with pytest.raises(DiskFull) as stopped:
        try:
            raise h5py_error
        except OSError as error:
            run_dir.set_stopped(error, last_epoch=2)
    line = f"cannot write {weights}: {FULL}; free some space, then continue with: experiment.py resume {run_dir.path}"
    assert str(stopped.value) == line and stopped.value.__cause__ is h5py_error
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert (status["state"], status["reason"], status["last_epoch"]) == ("failed", line, 2)
    assert leftovers(tmp_path / "run") == []  # the library's temporary file too, and the lock is released


def test_tensorboard_full_disk_names_its_folder(tmp_path, monkeypatch):
    from lib.storage.tensorboard_scalars import TaggedScalars

    scalars = TaggedScalars(str(tmp_path / "tb"))

    def full_flush():  # TensorBoard's TensorFlow file writer raises its own error type, not OSError
        raise RuntimeError(f"{tmp_path}/tb/events.out.tfevents.1; {FULL}")

    monkeypatch.setattr(scalars._writer, "flush", full_flush)
    with pytest.raises(DiskFull, match=f"cannot write {tmp_path / 'tb'}: {FULL}; "):
        scalars.write(1, {"epoch_loss": 1.0})
    monkeypatch.setattr(scalars._writer, "close", full_flush)
    scalars.close()  # a run stopping on a full disk closes its writers without a second error


@pytest.mark.parametrize("error, reason", [
    (OSError(errno.ENOSPC, "x"), FULL),
    (OSError(errno.EDQUOT, "x"), os.strerror(errno.EDQUOT)),
    (RuntimeError(f"/run/tb/events; {FULL}"), FULL),
    (OSError(errno.EACCES, "x"), None),
    (ValueError("bad"), None),
])
def test_disk_full_reason(error, reason):
    assert disk_full_reason(error) == reason


def tiny_model():
    import keras

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.build((None, 3))
    return model


@pytest.mark.skipif(not atomic._has_room(atomic.MEMORY_FOLDER, 1 << 20), reason="no memory-backed folder (Linux's /dev/shm)")
def test_keras_weight_files_are_made_in_memory_and_a_full_disk_is_one_line(tmp_path, monkeypatch):
    """Keras' HDF5 writer, cut short by a full disk, crashes the process at exit (tried on a full tmpfs),
    so save_weights has Keras write in memory and copies the file with Python; the copy's failure is DiskFull
    naming the file, with nothing left behind, here or in memory, and the old file kept."""
    from callbacks.weight_files import save_weights

    model, path = tiny_model(), tmp_path / "checkpoints" / "best.weights.h5"
    save_weights(model, str(path))
    loaded = tiny_model()
    loaded.load_weights(str(path))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded.get_weights()))
    before = path.read_bytes()
    model.layers[0].kernel.assign(np.ones((3, 2), "float32"))
    monkeypatch.setattr(os, "fsync", full_fsync)
    with pytest.raises(DiskFull, match=f"^cannot write {path}: "):
        save_weights(model, str(path))
    assert path.read_bytes() == before and os.listdir(path.parent) == ["best.weights.h5"]
    assert [name for name in os.listdir(atomic.MEMORY_FOLDER) if name.startswith(f"{atomic.MEMORY_PREFIX}{os.getpid()}-")] == []


def test_a_weight_file_a_killed_process_left_in_memory_is_removed_by_the_next_write(tmp_path):
    if not atomic._has_room(atomic.MEMORY_FOLDER, 1 << 20):
        pytest.skip("no memory-backed folder (Linux's /dev/shm)")
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = os.path.join(atomic.MEMORY_FOLDER, f"{atomic.MEMORY_PREFIX}{ended.stdout.strip()}-0a1b2c3d-best.weights.h5")
    ours = os.path.join(atomic.MEMORY_FOLDER, f"{atomic.MEMORY_PREFIX}{os.getppid()}-0a1b2c3d-best.weights.h5")
    for path in (orphan, ours):
        with open(path, "wb") as f:
            f.write(b"half a file")
    try:
        with atomic.library_file(str(tmp_path / "w.weights.h5"), size=100) as temporary:
            with open(temporary, "wb") as f:
                f.write(b"whole")
        assert (tmp_path / "w.weights.h5").read_bytes() == b"whole"
        assert not os.path.exists(orphan) and os.path.exists(ours)  # a live process's file is its own
    finally:
        for path in (orphan, ours):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)


def test_without_a_memory_folder_the_library_writes_beside_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "MEMORY_FOLDER", str(tmp_path / "none"))
    with atomic.library_file(str(tmp_path / "w.weights.h5"), size=100) as temporary:
        assert os.path.dirname(temporary) == str(tmp_path) and atomic.is_temporary(os.path.basename(temporary))
        with open(temporary, "wb") as f:
            f.write(b"whole")
    assert os.listdir(tmp_path) == ["w.weights.h5"]
