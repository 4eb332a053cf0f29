"""The run directory contract (DESIGN.md, principle 9).

`model_history/<dataset>/<run name>/` holds config.json, argv.txt, status.json,
history.h5 + history.csv, results.json, tb/ (TensorBoard events) and the study's h5 files.
An existing run directory is never silently overwritten, and a run has one writer at a time: the
process that writes a run holds an exclusive lock on its directory until the run ends.
"""

import dataclasses
import fcntl
import json
import os
import shlex
import shutil
import time

from lib.errors import UsageError
from lib.storage import atomic

STATES = ("running", "done", "diverged", "failed", "interrupted")


def check_available(path: str, overwrite: bool) -> None:
    """Fail early, before any work, if `path` holds a run and --overwrite was not given."""
    if os.path.exists(path) and not overwrite:
        raise UsageError(f"run directory {path} already exists; pass --overwrite to replace it or --name to choose another")
    parent = _existing_ancestor(os.path.dirname(os.path.abspath(path)))
    if not os.path.isdir(parent):
        raise UsageError(f"cannot create run directory {path}: {parent} is a file; choose another --output_dir")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"cannot create run directory {path}: {parent} is not writable; choose another --output_dir")


def _existing_ancestor(path: str) -> str:
    while not os.path.exists(path):
        path = os.path.dirname(path)
    return path


def lock_directory(path: str) -> int:
    """An exclusive flock on the directory itself (no lock file to clean up); the OS drops it when
    the process ends, even by SIGKILL, so a crashed run never stays locked. Returns the descriptor."""
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise UsageError(f"{path} is being written by another initlab process; wait for it to end or stop it "
                         "first (one writer per run)") from None
    return descriptor


class RunDirectory:
    def __init__(self, path: str, lock: int | None = None):
        self.path = path
        self._lock = lock  # the descriptor holding the directory's lock while this process writes the run

    @classmethod
    def create(cls, path: str, *, overwrite: bool, config_json: str, argv: list[str]) -> "RunDirectory":
        """Make the directory (replacing an old one only with `overwrite`) and record config + argv."""
        check_available(path, overwrite)
        if os.path.exists(path):
            old = lock_directory(path)  # never replace a run another process is writing
            shutil.rmtree(path)
            os.close(old)
        try:
            os.makedirs(path)
        except OSError as error:
            raise UsageError(f"cannot create run directory {path}: {error.strerror}") from None
        run = cls(path, lock_directory(path))
        atomic.write_text(run.file("config.json"), config_json)
        atomic.write_text(run.file("argv.txt"), shlex.join(argv) + "\n")
        run.set_status("running")
        return run

    def append_argv(self, argv: list[str]) -> None:
        """A resumed run: argv.txt gets the resuming command line under the original one."""
        with open(self.file("argv.txt")) as f:
            text = f.read()
        atomic.write_text(self.file("argv.txt"), text + shlex.join(argv) + "\n")

    def file(self, name: str) -> str:
        return os.path.join(self.path, name)

    def set_status(self, state: str, *, reason: str = "", last_epoch: int | None = None) -> None:
        if state not in STATES:
            raise ValueError(f"unknown run state '{state}'")
        status = {"state": state, "last_epoch": last_epoch, "reason": reason, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        atomic.write_text(self.file("status.json"), json.dumps(status, indent=2) + "\n")
        if state != "running":  # every run ends with its final state: the next writer may come
            self.release()

    def set_stopped(self, error: BaseException, *, last_epoch: int | None) -> None:
        """The final status of a run that `error` ended: diverged, interrupted or failed, with a one-line reason."""
        from lib.errors import RunDiverged, RunInterrupted, RunStopped

        state = {RunDiverged: "diverged", RunInterrupted: "interrupted"}.get(type(error), "failed")
        reason = str(error) if isinstance(error, (RunStopped, RunInterrupted)) else f"{type(error).__name__}: {error}"
        self.set_status(state, reason=reason.splitlines()[0] if reason else "", last_epoch=last_epoch)

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def write_json(self, name: str, value) -> None:
        atomic.write_text(self.file(name), json.dumps(value, indent=2, sort_keys=True) + "\n")


def check_run_path(path: str, *, overwrite: bool, resume: bool) -> None:
    """Before any work: a new run needs a free path (or --overwrite), a resumed one a run directory."""
    from lib.runs.resume import read_run_config

    if resume and overwrite:
        raise UsageError("--resume continues a run and --overwrite replaces it; pass only one of them")
    if resume:
        read_run_config(path)
    else:
        check_available(path, overwrite)


def open_run(path: str, config, argv: list[str]) -> tuple["RunDirectory", int]:
    """The run directory of `config` and the epochs already done: a new one, or a resumed one cut
    back to its checkpoint (lib.runs.resume)."""
    from lib.config import to_json
    from lib.runs.resume import prepare_resume

    command = ["experiment.py", *argv]
    if not config.resume:
        return RunDirectory.create(path, overwrite=config.overwrite, config_json=to_json(config), argv=command), 0
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    run = RunDirectory(path, lock_directory(path))  # before the cut-back: nobody else may be writing
    try:
        start_epoch = prepare_resume(path, to_json(config), defaults)
    except BaseException:
        run.release()
        raise
    run.append_argv(command)
    run.set_status("running", reason=f"resumed after epoch {start_epoch}", last_epoch=start_epoch)
    return run, start_epoch
