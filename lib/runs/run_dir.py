"""The run directory contract (DESIGN.md, principle 9).

`model_history/<dataset>/<run name>/` holds config.json, argv.txt, status.json,
history.h5 + history.csv, results.json, tb/ (TensorBoard events) and the study's h5 files.
An existing run directory is never silently overwritten, and a run has one writer at a time: the
process that writes a run holds an exclusive lock on its directory (lock_directory) from before it
touches any file until the run ends.
"""

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import shlex
import shutil
import socket
import time
import weakref

from lib.errors import DiskFull, RunDiverged, RunInterrupted, RunStopped, UsageError, disk_full_reason
from lib.processes import process_alive
from lib.storage import atomic

STATES = ("running", "done", "diverged", "failed", "interrupted")
LOCK_FILE = ".lock"  # exists while a process holds the run (and after a SIGKILL, harmlessly)


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


class RunLocked(UsageError):
    """Another process holds the run directory's lock."""


def lock_directory(path: str) -> int:
    """Take the run directory's lock, or refuse in one line naming the process that holds it.

    An exclusive flock on LOCK_FILE in the directory, opened for writing (an NFS client emulates
    flock by a lock that needs that). The OS drops it when the process ends, even by SIGKILL, so a
    crashed run never stays locked: the flock is the truth. The holder's pid and host, written into
    the file right after, are only for the refusal message; a stale one (SIGKILL) blocks nothing.
    unlock_directory removes the file while still holding it, so a process that locked the removed
    file meanwhile sees it is no longer the directory's and tries the new one. Returns the descriptor.
    """
    lock_path = os.path.join(path, LOCK_FILE)
    while True:
        try:
            descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as error:
            raise _os_error(error, lock_path, f"cannot lock {path}") from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(descriptor)
            os.close(descriptor)
            raise RunLocked(f"{path} is being written by another initlab process ({holder}); wait for it to end "
                            "or stop it first (one writer per run)") from None
        except OSError as error:
            os.close(descriptor)
            raise UsageError(f"cannot lock {path}: {error.strerror} (initlab needs flock on run directories: on NFS a "
                             "running lock service, on Lustre the flock mount option)") from None
        if _same_file(descriptor, lock_path):
            break
        os.close(descriptor)
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, and a refusal says "pid unknown"
    return descriptor


def _os_error(error: OSError, path: str, failed: str) -> Exception:
    """What to raise for `error`: a full disk as DiskFull naming `path`, anything else as one line, `failed: why`."""
    reason = disk_full_reason(error)
    return DiskFull(path, reason) if reason is not None else UsageError(f"{failed}: {error.strerror}")


def unlock_directory(path: str, descriptor: int) -> None:
    """Release a lock from lock_directory; its file goes too (removed while still held)."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(path, LOCK_FILE))
    os.close(descriptor)


@contextlib.contextmanager
def run_lock(path: str):
    """Hold the run directory's lock for the `with` block (a command that writes into a finished run)."""
    descriptor = lock_directory(path)
    try:
        yield
    finally:
        unlock_directory(path, descriptor)


def _same_file(descriptor: int, path: str) -> bool:
    try:
        ours, now = os.fstat(descriptor), os.stat(path)
    except FileNotFoundError:
        return False
    return (ours.st_dev, ours.st_ino) == (now.st_dev, now.st_ino)


def _holder(descriptor: int) -> str:
    """'pid N' (with its host when it is another) from the lock file. Read again for up to a second
    while the file is empty or names a process that has ended: the holder is writing its pid now."""
    pid = None
    for _ in range(20):
        try:
            fields = os.pread(descriptor, 256, 0).decode().split()
        except (OSError, UnicodeDecodeError):
            fields = []
        if len(fields) == 2 and fields[0].isdigit():
            pid, host = int(fields[0]), fields[1]
            if host != socket.gethostname():
                return f"pid {pid} on host {host}"
            if process_alive(pid):
                return f"pid {pid}"
        time.sleep(0.05)
    # the lock is held, but the file names a process not running here (e.g. one in another PID namespace)
    return "pid unknown" if pid is None else f"pid unknown: its lock file names pid {pid}, which is not running here"


class RunDirectory:
    def __init__(self, path: str, lock: int | None = None):
        """`lock`: the descriptor from lock_directory, held while this process writes the run; released by
        the final status, or when the object is collected or the interpreter exits (a long-lived worker
        process whose run failed before training must not keep it locked)."""
        self.path = path
        self._unlock = None if lock is None else weakref.finalize(self, unlock_directory, path, lock)

    @classmethod
    def create(cls, path: str, *, overwrite: bool, config_json: str, argv: list[str]) -> "RunDirectory":
        """Make the directory (replacing an old one only with `overwrite`) and record config + argv.

        The lock is taken before anything is written or removed, and held throughout: an old run is
        emptied under it, never deleted from under another process. If the directory cannot be
        filled (a full disk), what was made is removed, so the same command can simply run again."""
        check_available(path, overwrite)
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"{path} is a file, not a run directory; remove it or choose another --name")
        existed = os.path.isdir(path)
        try:
            os.makedirs(path, exist_ok=overwrite)
        except FileExistsError:  # made by another process since check_available
            raise UsageError(f"run directory {path} already exists; pass --overwrite to replace it or --name to "
                             "choose another") from None
        except OSError as error:
            raise _os_error(error, path, f"cannot create run directory {path}") from None
        try:
            run = cls(path, lock_directory(path))
        except RunLocked:
            raise  # another process's run now: never touched
        except (DiskFull, UsageError):  # a full disk; a filesystem without flock (lock_directory's message)
            if not existed:  # made just now: removed, so the same command can simply run again
                shutil.rmtree(path, ignore_errors=True)
            raise
        try:
            if overwrite:
                _empty(path)
            atomic.write_text(run.file("config.json"), config_json)
            atomic.write_text(run.file("argv.txt"), shlex.join(argv) + "\n")
            run.set_status("running")
        except DiskFull:
            shutil.rmtree(path, ignore_errors=True)
            run.release()
            raise
        except BaseException:
            run.release()
            raise
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
        try:
            atomic.write_text(self.file("status.json"), json.dumps(status, indent=2) + "\n")
        finally:
            if state != "running":  # every run ends with its final state: the next writer may come
                self.release()

    def set_stopped(self, error: BaseException, *, last_epoch: int | None) -> None:
        """The final status of a run that `error` ended: diverged, interrupted or failed, with a one-line reason.

        A full disk ends as DiskFull, naming the file and the command that resumes the run: initlab's
        writers raise it (the run is attached here); an OSError from a library's writer (Keras weight
        files) is raised again from here as DiskFull. If status.json cannot be written either (the
        same full disk), the line says so and the file keeps its last content ('running')."""
        atomic.remove_temporaries(self.path)  # what the stopped write left (a library's writer cleans up nothing)
        full = _as_disk_full(error, self.path)
        stopped = error if full is None else full
        state = {RunDiverged: "diverged", RunInterrupted: "interrupted"}.get(type(stopped), "failed")
        reason = str(stopped) if isinstance(stopped, (RunStopped, RunInterrupted)) else f"{type(error).__name__}: {error}"
        try:
            self.set_status(state, reason=reason.splitlines()[0] if reason else "", last_epoch=last_epoch)
        except DiskFull as status_error:
            if full is None:
                full = _as_disk_full(status_error, self.path)
            full.note = f" ({self.file('status.json')} could not be updated either: it still says {self._state()})"
        if full is not None and full is not error:
            raise full from error

    def _state(self) -> str:
        try:
            with open(self.file("status.json")) as f:
                return repr(json.load(f)["state"])
        except (OSError, ValueError, KeyError, TypeError):
            return "nothing"

    def release(self) -> None:
        if self._unlock is not None:
            self._unlock()

    def write_json(self, name: str, value) -> None:
        atomic.write_text(self.file(name), json.dumps(value, indent=2, sort_keys=True) + "\n")


def _empty(path: str) -> None:
    """Remove everything in `path` but its lock file (--overwrite: the lock stays held while the old run goes)."""
    for name in set(os.listdir(path)) - {LOCK_FILE}:
        entry = os.path.join(path, name)
        try:
            if os.path.isdir(entry) and not os.path.islink(entry):
                shutil.rmtree(entry)
            else:
                os.remove(entry)
        except OSError as error:
            raise UsageError(f"cannot replace {path}: {error.filename or entry}: {error.strerror}") from None


def _as_disk_full(error: BaseException, run_path: str) -> DiskFull | None:
    """`error` as the DiskFull of run `run_path` when it says the disk or quota is full, else None."""
    if isinstance(error, DiskFull):
        error.run_dir = error.run_dir or run_path
        return error
    reason = disk_full_reason(error) if isinstance(error, Exception) else None
    if reason is None:
        return None
    filename = getattr(error, "filename", None)
    named = os.fsdecode(filename) if filename else re.search(r"filename = '([^']*)'", str(error))  # h5py names it so
    path = named if isinstance(named, str) else named.group(1) if named else run_path
    return DiskFull(path, reason, run_dir=run_path)


def check_run_path(path: str, *, overwrite: bool, resume: bool) -> None:
    """Before any work: a new run needs a free path (or --overwrite), a resumed one a run directory."""
    from lib.runs.resume import read_run_config

    if resume and overwrite:
        raise UsageError("--resume continues a run and --overwrite replaces it; pass only one of them")
    if resume:
        read_run_config(path)
    else:
        check_available(path, overwrite)
    if os.path.isdir(path):  # a run another process writes is refused now, before any data is loaded
        unlock_directory(path, lock_directory(path))


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
        run.append_argv(command)
        run.set_status("running", reason=f"resumed after epoch {start_epoch}", last_epoch=start_epoch)
    except BaseException as error:
        if isinstance(error, DiskFull):
            error.run_dir = path  # the cut-back and these writes can simply be done again
        run.release()
        raise
    return run, start_epoch
