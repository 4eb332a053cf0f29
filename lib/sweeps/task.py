"""One run of a sweep, wherever it executes: look at its directory, then start it, resume it or leave
it, as one `experiment.py` subprocess whose output goes to the sweep's logs/<run name>.log.

A subprocess, not a call: each run gets a fresh TensorFlow / JAX runtime whose GPU memory is
freed when it exits, and initlab's own SIGTERM handling stops it cleanly (reference/scaleout.md).
The decision is taken here, when the task runs, not when the sweep is planned: a task Ray retries
on another node after its node died finds the run's checkpoint and resumes it.
"""

import dataclasses
import os
import shlex
import signal
import subprocess
import sys
import time

from lib.errors import DiskFull, UsageError
from lib.sweeps.state import FINISHED, RunState, run_state

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENT = os.path.join(REPO, "experiment.py")
HEADER = "### initlab sweep:"  # starts the log block of each attempt; the driver reads it to report starts
EXIT_DIVERGED = 3  # lib.errors.RunDiverged: a result
WRITER_WAIT_S = 60.0  # a previous attempt's process may still be stopping (SIGTERM, then checkpointed exit)
POLL_S = 1.0  # how often the wait for the run gives Ray's cancellation a chance to be raised
STOP_WAIT_S = 30.0  # a subprocess asked to stop gets this long to write its status before SIGKILL
# Run the subprocess with a parent-death signal (Linux): if the Ray worker running this task dies, the
# run gets SIGTERM and stops cleanly instead of writing on beside a retry. prctl's flag survives exec.
DEATH_SIGNAL_LAUNCHER = ("import ctypes, os, signal, sys; ctypes.CDLL(None).prctl(1, signal.SIGTERM); "
                         "os.getppid() == int(sys.argv[1]) or sys.exit(143); os.execv(sys.executable, [sys.executable, *sys.argv[2:]])")


@dataclasses.dataclass(frozen=True)
class Outcome:
    name: str
    action: str  # start | resume | replace | skip | lost (Ray could not run it)
    state: str  # the run's state afterwards (status.json), or "failed"
    last_epoch: int | None = None
    exit_code: int | None = None
    reason: str = ""  # why it did not end done: its status reason or the last line of its log
    seconds: float = 0.0
    node: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def execute(name: str, study: str, argv: list[str], path: str, log_path: str, *, replace: bool = False,
            cwd: str | None = None, node: str = "", script: str | None = None) -> Outcome:
    """Run (or leave) one planned run and report how it ended. `cwd`: the driver's folder, where relative
    paths in the flags start (on a cluster it must exist on every node, as the shared --output_dir does);
    `script`: what runs instead of experiment.py (the tests' stand-in run)."""
    started = time.monotonic()
    wait_for_writer(path)
    before = run_state(study, path)
    action, extra = decide(before, path, replace)
    if action == "skip":
        return Outcome(name, "skip", before.state, before.last_epoch, node=node)
    command = [sys.executable, script or EXPERIMENT, *argv, *extra]
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "a") as log:
        log.write(f"{HEADER} {action} on node {node or '-'} at {time.strftime('%Y-%m-%dT%H:%M:%S')}\n$ {shlex.join(command)}\n")
        if cwd and not os.path.isdir(cwd):
            log.write(f"(the sweep's folder {cwd} is not on this node: relative paths in the flags start in {os.getcwd()})\n")
        log.flush()
        code = _run(command, log, cwd if cwd and os.path.isdir(cwd) else None)
    after = run_state(study, path)
    state = after.state if code in (0, EXIT_DIVERGED) else "failed"
    reason = after.reason if code in (0, EXIT_DIVERGED) else (_last_line(log_path) or f"exit code {code}")
    return Outcome(name, action, state, after.last_epoch, code, reason, time.monotonic() - started, node)


def decide(state: RunState, path: str, replace: bool) -> tuple[str, list[str]]:
    """(action, flags to add): a finished run is left as it is; one with files is resumed from its
    checkpoint; one with nothing kept is started (over what is there, if anything)."""
    exists = os.path.exists(path)
    if replace:
        return ("replace", ["--overwrite"]) if exists else ("start", [])
    if state.finished:
        return "skip", []
    if state.state == "absent":
        return "start", ["--overwrite"] if exists else []
    return "resume", ["--resume"]


def wait_for_writer(path: str, timeout: float = WRITER_WAIT_S) -> None:
    """Wait until no process holds the run's lock (lib.runs.run_dir: one writer per run), so that a
    retried task does not start while the attempt before it is still stopping."""
    from lib.runs.run_dir import run_lock

    if not os.path.isfile(os.path.join(path, "config.json")):
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            with run_lock(path):
                return
        except DiskFull:
            return  # the run itself fails on it, in one line naming the file
        except UsageError:
            if time.monotonic() > deadline:
                return  # the run itself will refuse, with the holder's pid, and the sweep reports it
            time.sleep(0.5)


def _run(command: list[str], log, cwd: str | None = None) -> int:
    """The subprocess's exit code; if this task is stopped (Ray cancels it: the driver's Ctrl-C), the run is
    stopped the way a user's Ctrl-C would (SIGTERM: it finishes its update, writes its status, exits).
    The wait polls, so that Ray's cancellation (raised in Python between bytecodes) is seen while the
    run goes on.

    When the worker itself dies (its node, or its driver, is gone), Ray kills the worker's children
    (measured: no time to write a status; the run resumes from its last checkpoint all the same), and
    the parent-death signal covers a worker that could not."""
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", DEATH_SIGNAL_LAUNCHER, str(os.getpid()), *command[1:]]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=cwd)
    try:
        while True:
            try:
                return process.wait(POLL_S)
            except subprocess.TimeoutExpired:
                continue
    except BaseException:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        raise


def _last_line(log_path: str) -> str:
    """The last non-empty line of the log: the one-line error a failed run prints."""
    try:
        with open(log_path, "rb") as f:
            f.seek(max(0, os.path.getsize(log_path) - 4096))
            lines = f.read().decode(errors="replace").replace("\r", "\n").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")
