"""One writer per run (DESIGN.md, principle 9): while a process writes a run, `resume`, `--resume`,
`--overwrite` and `hessian` from another process are refused in one line naming its pid, and touch
nothing; the lock dies with its process, even by SIGKILL, and a stale pid never blocks."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lib.errors import UsageError
from lib.runs.run_dir import LOCK_FILE, lock_directory, unlock_directory
from lib.storage.epoch_table import read_epoch_table
from tests.helpers import REPO, SCRIPTS

EPOCHS = 3
ARGV = ["--dataset", "digits", "--units", "8", "--epochs", str(EPOCHS), "--record_every", "0", "--name", "busy"]


def start(argv, gate):
    """experiment.py ARGV, held after its first epoch's checkpoint until `gate` exists (tests/scripts/hold_after_epoch.py)."""
    return subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "hold_after_epoch.py"), "1", str(gate), *argv],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_for(path, process, timeout=300):
    deadline = time.time() + timeout
    while not path.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert path.exists() and process.poll() is None, process.stderr.read() if process.poll() is not None else "timeout"


def test_a_live_run_refuses_every_second_writer(tmp_path):
    argv = [*ARGV, "--output_dir", str(tmp_path)]
    gate, run_dir = tmp_path / "gate", tmp_path / "digits" / "busy"
    writer = start(argv, gate)
    try:
        wait_for(run_dir / "checkpoints" / "state.json", writer)  # epoch 1 complete; held until the gate opens
        before = {name: (run_dir / name).read_bytes() for name in ("argv.txt", "status.json", "history.csv", "history.h5")}
        attempts = {"resume": ["resume", str(run_dir)], "--resume": [*argv, "--resume"],
                    "--overwrite": [*argv, "--overwrite"], "hessian": ["hessian", str(run_dir)]}
        others = {name: subprocess.Popen([sys.executable, os.path.join(REPO, "experiment.py"), *command],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                  for name, command in attempts.items()}  # all at once, as a requeue and a person might
        for name, other in others.items():
            err = other.communicate(timeout=300)[1]
            assert other.returncode == 2, (name, err)
            assert err == (f"error: {run_dir} is being written by another initlab process (pid {writer.pid}); wait for "
                           "it to end or stop it first (one writer per run)\n"), (name, err)
        assert {name: (run_dir / name).read_bytes() for name in before} == before
        assert (run_dir / LOCK_FILE).read_text().split()[0] == str(writer.pid)
    finally:
        gate.touch()
        writer.wait(timeout=300)
    assert writer.returncode == 0, writer.stderr.read()[-2000:]
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["last_epoch"]) == ("done", EPOCHS)
    assert len(read_epoch_table(str(run_dir / "history.h5"))["loss"]) == EPOCHS
    assert len((run_dir / "history.csv").read_text().splitlines()) == EPOCHS + 1
    assert len((run_dir / "argv.txt").read_text().splitlines()) == 1  # nobody resumed it
    assert not (run_dir / LOCK_FILE).exists()  # removed by the run's end: a finished run holds only its files


def test_sigkill_releases_the_lock_and_its_stale_pid_blocks_nothing(tmp_path):
    argv = [*ARGV, "--output_dir", str(tmp_path)]
    run_dir = tmp_path / "digits" / "busy"
    writer = start(argv, tmp_path / "gate")
    try:
        wait_for(run_dir / "checkpoints" / "state.json", writer)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert (run_dir / LOCK_FILE).read_text().split()[0] == str(writer.pid)  # left behind, naming a dead process
    descriptor = lock_directory(str(run_dir))
    assert (run_dir / LOCK_FILE).read_text().split()[0] == str(os.getpid())
    unlock_directory(str(run_dir), descriptor)
    assert not (run_dir / LOCK_FILE).exists()


HOLDER = """
import os, sys, time
sys.path.insert(0, {repo!r})
from lib.runs.run_dir import lock_directory
descriptor = lock_directory({path!r})
if {record!r}:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, {record!r}.encode(), 0)
print("locked", flush=True)
time.sleep(300)
"""


@pytest.mark.parametrize("record, holder", [
    ("", "pid {pid}"),
    ("4242 node7\n", "pid 4242 on host node7"),  # a process on another host of a shared filesystem
    ("999999999 {host}\n", "pid unknown: its lock file names pid 999999999, which is not running here"),
])
def test_refusal_names_the_holder(tmp_path, record, holder):
    import socket

    record = record.format(host=socket.gethostname())
    child = subprocess.Popen([sys.executable, "-c", HOLDER.format(repo=REPO, path=str(tmp_path), record=record)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(UsageError) as refusal:
            lock_directory(str(tmp_path))
    finally:
        child.kill()
        child.wait()
    assert f"being written by another initlab process ({holder.format(pid=child.pid)})" in str(refusal.value)
    unlock_directory(str(tmp_path), lock_directory(str(tmp_path)))  # the holder's end released it


def test_a_lock_file_removed_meanwhile_is_not_the_lock(tmp_path, monkeypatch):
    """The race unlock_directory's removal opens: we open the lock file, its holder ends (removing it) and
    a third process locks the new one, then our flock on the removed file succeeds. That flock must not
    count: we try the directory's new lock file, and are refused."""
    import fcntl

    holder, flock, third = lock_directory(str(tmp_path)), fcntl.flock, []

    def racing_flock(descriptor, operation):
        if not third:
            third.append(None)
            unlock_directory(str(tmp_path), holder)
            third[0] = lock_directory(str(tmp_path))
        return flock(descriptor, operation)

    monkeypatch.setattr(fcntl, "flock", racing_flock)
    with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
        lock_directory(str(tmp_path))
    unlock_directory(str(tmp_path), third[0])


def test_a_filesystem_without_flock_is_one_line_and_leaves_no_new_directory(tmp_path, monkeypatch):
    """Lustre without the flock mount option, NFS without a lock service: the run cannot have one writer, so it
    does not start, and the directory it made is removed so that the same command runs once that is fixed."""
    import errno
    import fcntl

    from lib.runs.run_dir import RunDirectory

    def no_flock(descriptor, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_flock)
    path = tmp_path / "runs" / "run"
    with pytest.raises(UsageError, match=f"^cannot lock {path}: {os.strerror(errno.ENOLCK)} \\(initlab needs flock"):
        RunDirectory.create(str(path), overwrite=False, config_json="{}", argv=["experiment.py"])
    assert not path.exists()
