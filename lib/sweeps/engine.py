"""Ray as the sweep engine: every run to do becomes one Ray core task (lib.sweeps.task.execute) with
`--cpus_per_run` CPUs and `--gpus_per_run` GPUs (Ray sets CUDA_VISIBLE_DEVICES per task), at most
`--parallel` at a time.

By default Ray starts embedded on this machine, listening on loopback only, its session files in a
private temporary folder removed at the end; `--address` (or RAY_ADDRESS) joins a running cluster.
Ray retries a task whose worker or node died (MAX_RETRIES; the retry resumes the run from its
checkpoint) and never an application error: a run that failed is reported, and the next sweep
resumes it. Measured behaviour and pitfalls: reference/scaleout.md.
"""

import collections
import contextlib
import dataclasses
import logging
import os
import re
import secrets
import shutil
import signal
import tempfile
import threading

from lib.errors import RunInterrupted, UsageError
from lib.sweeps.plan import Plan, PlannedRun
from lib.sweeps.progress import Progress
from lib.sweeps.state import run_state
from lib.sweeps.task import HEADER, REPO, Outcome, execute

MAX_RETRIES = 3  # system failures only (a dead worker or node), as Ray's default; each retry resumes
POLL_S = 1.0  # how often the driver looks for runs that started (their log's attempt header)
CANCEL_WAIT_S = 40.0  # after Ctrl-C: how long stopping runs get to checkpoint and write their status
FORWARDED_ENV = ("KERAS_HOME",)  # and every INITLAB_* variable: the driver's settings reach every run
LOOPBACK_HOSTS = ("localhost", "::1", "[::1]")
ATTEMPT = re.compile(rf"^{re.escape(HEADER)} (\w+) on node (\S+)", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class EngineOptions:
    parallel: int | None = None  # runs at a time (default: as many as the resources allow)
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    address: str | None = None  # a Ray cluster to join; None: an embedded Ray on this machine


def run_plan(plan: Plan, options: EngineOptions) -> list[Outcome]:
    """Run every planned run that is not finished; return one Outcome per planned run, in plan order."""
    outcomes = {}
    for run in plan.runs:
        state = run_state(plan.grid.study, run.path)
        if state.finished and not plan.replace:
            outcomes[run.name] = Outcome(run.name, "skip", state.state, state.last_epoch)
    to_run = [run for run in plan.runs if run.name not in outcomes]
    progress = Progress(len(plan.runs), done=len(outcomes), parallel=options.parallel)
    if to_run:
        try:
            with _sigterm_as_interrupt(), ray_session(options) as ray:
                outcomes.update(_drive(ray, plan, to_run, options, progress))
        except KeyboardInterrupt as error:  # also while Ray starts or stops, before _drive has runs to stop
            if isinstance(error, RunInterrupted):
                raise
            raise RunInterrupted(signal.SIGINT, f"the sweep was interrupted; {plan.resume_advice}") from None
    return [outcomes[run.name] for run in plan.runs]


def _drive(ray, plan: Plan, to_run: list[PlannedRun], options: EngineOptions, progress: Progress) -> dict:
    task = ray.remote(num_cpus=options.cpus_per_run, num_gpus=options.gpus_per_run, max_retries=MAX_RETRIES,
                      retry_exceptions=False)(_remote_execute)
    pending, in_flight, watchers, outcomes = collections.deque(to_run), {}, {}, {}
    try:
        while pending or in_flight:
            while pending and (options.parallel is None or len(in_flight) < options.parallel):
                run = pending.popleft()
                watchers[run.name] = LogWatcher(plan.log_path(run))
                ref = task.options(name=f"sweep {run.name}").remote(run.name, plan.grid.study, list(run.argv), run.path,
                                                                    plan.log_path(run), plan.replace, plan.cwd)
                in_flight[ref] = run
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=POLL_S)
            for run in in_flight.values():
                for action, node in watchers[run.name].new_attempts():
                    progress.started(run.name, action, node)
            for ref in ready:
                run = in_flight.pop(ref)
                outcome = outcome_of(ray, ref, run)
                outcomes[run.name] = outcome
                progress.ended(outcome)
    except KeyboardInterrupt as error:
        progress.print_line(f"stopping {len(in_flight)} run(s): each checkpoints and writes its status", flush=True)
        with _signals_ignored(progress):  # a second Ctrl-C must not cut the runs' checkpoints short
            for ref in in_flight:
                ray.cancel(ref)
            if in_flight:
                ray.wait(list(in_flight), num_returns=len(in_flight), timeout=CANCEL_WAIT_S)
        signal_number = error.exit_code - 128 if isinstance(error, RunInterrupted) else signal.SIGINT
        raise RunInterrupted(signal_number, f"the sweep was interrupted; {plan.resume_advice}") from None
    return outcomes


def outcome_of(ray, ref, run: PlannedRun) -> Outcome:
    """The finished task's Outcome; a task Ray could not complete is a failed run, with the reason in one line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as error:  # the task could not run: node lost beyond retries, cancelled, ...
        cause = getattr(error, "cause", None) or error  # a RayTaskError's text starts with the worker's title
        first_line = next((line.strip() for line in str(cause).splitlines() if line.strip()), "")
        return Outcome(run.name, "lost", "failed", reason=f"{type(cause).__name__}: {first_line}"[:300])


def _remote_execute(name, study, argv, path, log_path, replace, cwd) -> Outcome:
    """The task body on a Ray worker: lib.sweeps.task.execute, told which node it runs on."""
    import ray

    return execute(name, study, argv, path, log_path, replace=replace, cwd=cwd, node=ray.get_runtime_context().get_node_id()[:8])


class LogWatcher:
    """The attempts a task has begun, from the headers it appends to the run's log (the driver sees a
    run start, and a retry after a node died, without any channel but the shared filesystem)."""

    def __init__(self, path: str):
        self.path = path
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0

    def new_attempts(self) -> list[tuple[str, str]]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                text = f.read()
        except OSError:
            return []
        end = text.rfind(b"\n") + 1  # whole lines only: a header being written is read next time
        self.offset += end
        return ATTEMPT.findall(text[:end].decode(errors="replace"))


def forwarded_environment() -> dict[str, str]:
    """What every run needs from the driver's environment, wherever it runs: the repository on the
    worker's path (lib.sweeps.task is imported there), offline mode, the Keras cache."""
    env = {name: value for name, value in os.environ.items() if name.startswith("INITLAB_") or name in FORWARDED_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    return env


def is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0]
    return host.startswith("127.") or host in LOOPBACK_HOSTS


@contextlib.contextmanager
def ray_session(options: EngineOptions):
    """Ray started (embedded) or joined (`options.address`) for the `with` block, then stopped or left."""
    embedded = options.address is None
    ray_variables = {name: value for name, value in os.environ.items() if name.startswith("RAY_")}
    if embedded or is_loopback(options.address):
        # Ray would otherwise bind a loopback cluster to the host's IP address (and hang on connect) and an
        # embedded one to every interface; read when ray is imported (reference/scaleout.md).
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    # ERROR: Ray's notices (its token set-up, its own start-up lines) are noise beside the sweep's lines
    settings = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                    runtime_env={"env_vars": forwarded_environment()})
    temporary = tempfile.mkdtemp(prefix="ray-", dir=os.environ.get("RAY_TMPDIR")) if embedded else None
    if embedded:  # the embedded Ray's token for this session only: Ray would otherwise write ~/.ray/auth_token
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    try:
        try:
            if embedded:
                ray.init(_temp_dir=temporary, **settings)
            else:
                ray.init(address=options.address, **settings)
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError, ... with long texts
            where = f" at {options.address}" if options.address else ""
            first_line = next(iter(str(error).strip().splitlines()), type(error).__name__)
            raise UsageError(f"cannot {'start' if embedded else 'join'} Ray{where}: {first_line}") from None
        if embedded:
            _check_fits(ray.cluster_resources(), options)
        yield ray
    finally:
        ray.shutdown()  # also after a failed start: whatever part of an embedded Ray did start stops with it
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)
        _restore_ray_variables(ray_variables)


def _restore_ray_variables(saved: dict) -> None:
    """ray.init sets RAY_* variables in this process (RAY_AUTH_MODE=token, ...) that any process started
    later would inherit, e.g. another Ray cluster that then expects a token it does not have."""
    for name in [name for name in os.environ if name.startswith("RAY_") and name not in saved]:
        del os.environ[name]
    os.environ.update(saved)


def _check_fits(resources: dict, options: EngineOptions) -> None:
    for name, wanted, flag in (("CPU", options.cpus_per_run, "--cpus_per_run"), ("GPU", options.gpus_per_run, "--gpus_per_run")):
        if wanted > resources.get(name, 0):
            raise UsageError(f"{flag} {wanted:g}: this machine has {resources.get(name, 0):g} {name}(s) for Ray; "
                             f"ask for fewer, or join a cluster with --address")


@contextlib.contextmanager
def _signals_ignored(progress: Progress):
    """SIGINT and SIGTERM only say the sweep is already stopping, for the `with` block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def already_stopping(signal_number, frame):
        progress.print_line(f"already stopping: waiting up to {CANCEL_WAIT_S:.0f} s for the runs' status", flush=True)

    previous = {number: signal.signal(number, already_stopping) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM to the driver (a scheduler ending its job) stops the runs as Ctrl-C does: each checkpoints."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signal_number, frame):
        raise RunInterrupted(signal_number, "SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
