"""The engine's parts without Ray: what a task decides from a run's directory, the subprocess and its
parent-death signal, the study's run_state hook, the driver's log watching and progress counts,
sweep.csv's rows (also after an interruption), and analyze's selection and aggregation over seeds."""

import dataclasses
import json
import math
import os
import pathlib
import signal
import subprocess
import sys

import pandas as pd
import pytest

import lib.studies
from lib.errors import RunInterrupted
from lib.sweeps import command, frames
from lib.sweeps.engine import EngineOptions, LogWatcher, is_loopback, outcome_of
from lib.sweeps.grid import read_grid
from lib.sweeps.plan import make_plan
from lib.sweeps.progress import Progress
from lib.sweeps.state import RunState, run_state
from lib.sweeps.table import plan_rows
from lib.sweeps.task import HEADER, Outcome, decide, execute
from tests.helpers import REPO
from tests.sweeps.conftest import wait_for


def write_run(path, state: str | None, last_epoch: int | None = None, results: dict | None = None):
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if state is not None:
        (path / "status.json").write_text(json.dumps({"state": state, "last_epoch": last_epoch, "reason": ""}))
    if results is not None:
        (path / "results.json").write_text(json.dumps(results))
    return path


@pytest.mark.parametrize("state,expected", [("done", ("skip", [])), ("diverged", ("skip", [])),
                                            ("interrupted", ("resume", ["--resume"])), ("running", ("resume", ["--resume"])),
                                            ("failed", ("resume", ["--resume"]))])
def test_a_finished_run_is_left_alone_and_a_stopped_one_resumed(state, expected, tmp_path):
    run = write_run(tmp_path / "run", state, 3)
    assert decide(run_state("glorot", str(run)), str(run), replace=False) == expected


def test_a_run_with_nothing_kept_is_started_over_what_is_there(tmp_path):
    assert decide(run_state("glorot", str(tmp_path / "new")), str(tmp_path / "new"), replace=False) == ("start", [])
    (tmp_path / "crashed").mkdir()  # made, then stopped before its config.json
    assert run_state("glorot", str(tmp_path / "crashed")).state == "absent"
    assert decide(run_state("glorot", str(tmp_path / "crashed")), str(tmp_path / "crashed"), replace=False) == ("start", ["--overwrite"])
    done = write_run(tmp_path / "done", "done", 5)
    assert decide(run_state("glorot", str(done)), str(done), replace=True) == ("replace", ["--overwrite"])


def test_a_study_can_say_how_to_read_its_runs_state(tmp_path, monkeypatch):
    """abc-style: a run directory of trial_<i>/ folders is done when every trial is."""
    def trials_state(path):
        trials = sorted(os.listdir(path)) if os.path.isdir(path) else []
        states = [json.loads((tmp_path / "run" / trial / "status.json").read_text())["state"] for trial in trials]
        return None if not states else {"state": "done" if set(states) == {"done"} else "interrupted", "last_epoch": None}

    glorot = lib.studies.study("glorot")
    monkeypatch.setattr(lib.studies, "study", lambda name: dataclasses.replace(glorot, run_state=trials_state))
    write_run(tmp_path / "run" / "trial_0", "done", 4)
    write_run(tmp_path / "run" / "trial_1", "interrupted", 2)
    assert run_state("glorot", str(tmp_path / "run")) == RunState("interrupted")
    (tmp_path / "run" / "trial_1" / "status.json").write_text(json.dumps({"state": "done"}))
    assert run_state("glorot", str(tmp_path / "run")).finished


FAKE_RUN = """import json, os, sys
path = sys.argv[sys.argv.index("--at") + 1]
os.makedirs(path, exist_ok=True)
open(os.path.join(path, "config.json"), "w").write("{}")
state, code = {"0": ("done", 0), "3": ("diverged", 3), "1": ("failed", 1)}[sys.argv[sys.argv.index("--exit") + 1]]
json.dump({"state": state, "last_epoch": 2, "reason": "loss is nan" if code == 3 else ""}, open(os.path.join(path, "status.json"), "w"))
print("resume" if "--resume" in sys.argv else "fresh")
if code == 1:
    print("error: something one-line went wrong", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize("code,state,reason", [("0", "done", ""), ("3", "diverged", "loss is nan"),
                                               ("1", "failed", "error: something one-line went wrong")])
def test_execute_runs_the_subprocess_and_reads_how_it_ended(code, state, reason, tmp_path):
    script = tmp_path / "fake_run.py"
    script.write_text(FAKE_RUN)
    run, log = tmp_path / "run", tmp_path / "logs" / "run.log"
    outcome = execute("run", "glorot", ["--at", str(run), "--exit", code], str(run), str(log), node="n1", script=str(script))
    assert (outcome.action, outcome.state, outcome.last_epoch, outcome.exit_code, outcome.reason) == \
        ("start", state, 2, int(code), reason)
    assert log.read_text().startswith(f"{HEADER} start on node n1 at ")
    again = execute("run", "glorot", ["--at", str(run), "--exit", "0"], str(run), str(log), script=str(script))
    assert again.action == ("skip" if state in ("done", "diverged") else "resume")
    assert log.read_text().count(HEADER) == (1 if again.action == "skip" else 2)


PARENT = """import sys
sys.path.insert(0, {repo!r})
from lib.sweeps.task import _run
with open({log!r}, "a") as log:
    _run([sys.executable, "-c", "import time; print('child up', flush=True); time.sleep(120)"], log)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's prctl")
def test_a_run_does_not_outlive_the_worker_that_started_it(tmp_path):
    """A Ray worker killed with SIGKILL cannot stop its subprocess; the parent-death signal does."""
    log = tmp_path / "log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT.format(repo=REPO, log=str(log))])
    wait_for(lambda: log.exists() and "child up" in log.read_text(), 30, "the child to start")
    child = next(int(pid) for pid in os.listdir("/proc") if pid.isdigit() and _parent(int(pid)) == parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    wait_for(lambda: not os.path.exists(f"/proc/{child}") or _state(child) == "Z", 10, "the child to end")


def _parent(pid: int) -> int | None:
    try:
        return int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def test_the_driver_sees_each_attempt_once_and_only_whole_lines(tmp_path):
    log = tmp_path / "run.log"
    log.write_text(f"{HEADER} start on node aaaa at 2026\nold output\n")
    watcher = LogWatcher(str(log))  # what was there before the task was submitted is not this sweep's
    assert watcher.new_attempts() == []
    with open(log, "a") as f:
        f.write(f"epoch 1\n{HEADER} resume on node bbbb at 2026\n{HEADER} start on no")
    assert watcher.new_attempts() == [("resume", "bbbb")]
    with open(log, "a") as f:
        f.write("de cccc at 2026\n")
    assert watcher.new_attempts() == [("start", "cccc")] and watcher.new_attempts() == []


def test_progress_counts_and_estimates_what_is_left():
    lines = []
    progress = Progress(5, done=1, parallel=2, print_line=lambda text, flush: lines.append(text))
    assert progress.remaining() == "unknown"
    progress.started("a", "start", "n1")
    progress.started("b", "resume", "n2")

    @dataclasses.dataclass
    class Ended:
        name: str
        state: str
        action: str = "start"
        seconds: float = 20.0
        last_epoch: int = 3
        reason: str = ""
        finished: bool = True

    progress.ended(Ended("a", "done"))
    assert "done 2 / running 1 / failed 0 / left 2" in lines[-1]
    assert progress.remaining() == "~0:00:30"  # 20 s a run, 3 runs unfinished, 2 at a time
    progress.ended(Ended("b", "failed", finished=False, reason="error: x"))
    assert "end b failed, 3 epochs, 20.0 s: error: x | done 2 / running 0 / failed 1 / left 2" in lines[-1]
    assert "resume b (node n2)" in lines[1]
    progress.done += 1  # one run left: it runs alone, whatever --parallel allows
    assert progress.remaining() == "~0:00:20"


def test_loopback_addresses():
    assert is_loopback("127.0.0.1:6379") and is_loopback("localhost:1") and is_loopback("ray://127.0.0.5:10001")
    assert not is_loopback("10.0.0.1:6379") and not is_loopback("head-node:6379")


def test_a_task_that_raised_is_reported_by_its_exception_not_by_the_workers_title():
    class RayError(Exception):
        pass

    class TaskError(RayError):  # as ray.exceptions.RayTaskError: the worker's title first, the task's exception in .cause
        cause = OSError(30, "Read-only file system")

    def get(ref):
        raise TaskError("\x1b[36mray::sweep run()\x1b[39m (pid=12, ip=127.0.0.1)\n  File x\nOSError: ...")

    ray = type("FakeRay", (), {"get": staticmethod(get), "exceptions": type("exceptions", (), {"RayError": RayError})})
    outcome = outcome_of(ray, "ref", type("Run", (), {"name": "run"}))
    assert (outcome.action, outcome.state, outcome.reason) == ("lost", "failed", "OSError: [Errno 30] Read-only file system")


INFO = {"study": "glorot", "name": "t", "axes": [["dataset"], ["lr"]], "select": "lr", "metric": "best_val_acc", "goal": "max",
        "columns": ["test_error_percent"], "runs": []}


def test_best_validation_picks_per_configuration_the_value_with_the_best_mean_over_seeds():
    rows = []
    for dataset, lr, seed, val, test in [("a", "0.1", 0, 0.9, 10.0), ("a", "0.1", 1, 0.5, 30.0),  # mean val 0.70
                                         ("a", "0.01", 0, 0.8, 20.0), ("a", "0.01", 1, 0.7, 24.0),  # mean val 0.75: chosen
                                         ("b", "0.1", 0, 0.6, 40.0), ("b", "0.01", 0, None, None)]:  # b: 0.01 did not finish
        rows.append({"dataset": dataset, "lr": lr, "seed": seed, "status": "done" if val is not None else "interrupted",
                     "best_val_acc": val if val is not None else math.nan, "test_error_percent": test if test is not None else math.nan,
                     "configuration": f"dataset={dataset}"})
    summary = frames.aggregate(pd.DataFrame(rows), INFO)
    a, b = summary.iloc[0], summary.iloc[1]
    assert (a["selected_lr"], a["runs"], a["test_error_percent_mean"]) == ("0.01", 2, 22.0)
    assert a["test_error_percent_std"] == pytest.approx(math.sqrt(8.0))
    assert (b["selected_lr"], b["runs"], b["test_error_percent_mean"]) == ("0.1", 1, 40.0) and math.isnan(b["test_error_percent_std"])
    lowest_loss = frames.aggregate(pd.DataFrame(rows), {**INFO, "goal": "min"})
    assert lowest_loss.iloc[0]["selected_lr"] == "0.1"


def test_without_selection_every_run_of_a_configuration_counts_by_state():
    rows = [{"dataset": "a", "lr": "0.1", "status": status, "best_val_acc": 0.5, "test_error_percent": 10.0 * i,
             "configuration": "dataset=a,lr=0.1"} for i, status in enumerate(["done", "diverged", "failed"])]
    summary = frames.aggregate(pd.DataFrame(rows), {**INFO, "select": None})
    row = summary.iloc[0]
    assert (row["runs"], row["done"], row["diverged"], row["unfinished"]) == (3, 1, 1, 1)
    assert row["test_error_percent_mean"] == 5.0  # done and diverged runs are results, the failed one is not


def two_run_plan(tmp_path):
    grid = tmp_path / "two.yaml"
    grid.write_text("study: glorot\nfixed: {--dataset: digits}\naxes: {--lr: [0.10, 0.2]}\n")
    return make_plan(read_grid(str(grid)), str(tmp_path / "out"))


def test_a_sweep_csv_row_keeps_the_grids_values_and_says_why_a_run_failed(tmp_path):
    plan = two_run_plan(tmp_path)
    done, failed = plan.runs
    write_run(pathlib.Path(done.path), "done", 3, results={"epochs": 99, "lr": 0.1, "best_val_acc": 0.5})
    outcomes = [Outcome(done.name, "start", "done", 3), Outcome(failed.name, "start", "failed", exit_code=2, reason="error: x")]
    rows = plan_rows(plan, outcomes)
    assert (rows[0]["lr"], rows[0]["epochs"], rows[0]["best_val_acc"], rows[0]["reason"]) == ("0.10", 3, 0.5, "")
    assert (rows[1]["status"], rows[1]["reason"]) == ("absent", "error: x")  # failed before writing anything


def test_a_sweep_csv_row_shows_results_only_of_a_finished_run(tmp_path):
    """A run being started over (--overwrite, or abc trials replaced) may still hold its previous results.json."""
    plan = two_run_plan(tmp_path)
    write_run(pathlib.Path(plan.runs[0].path), "running", 1, results={"best_val_acc": 0.5})
    row = plan_rows(plan)[0]
    assert row["status"] == "running" and "best_val_acc" not in row


def test_an_interrupted_sweep_still_writes_sweep_csv(tmp_path, monkeypatch):
    plan = two_run_plan(tmp_path)

    def interrupted(plan, options):
        write_run(pathlib.Path(plan.runs[0].path), "interrupted", 1)
        raise RunInterrupted(signal.SIGINT, "the sweep was interrupted")

    monkeypatch.setattr(command, "run_plan", interrupted)
    with pytest.raises(RunInterrupted):
        command.run_sweep(plan, EngineOptions())
    rows = (tmp_path / "out" / "two" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 3 and ",interrupted,1," in rows[1] and ",absent,," in rows[2]
