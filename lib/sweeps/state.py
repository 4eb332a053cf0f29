"""Where a run stands, read from its directory: the sweep keeps no state of its own, so re-running a
sweep after a crash, a node failure or a killed driver looks at the runs themselves.

A study whose run directory is not one status.json (abc: one run holding trial_<i>/ folders)
registers `run_state` on its Study record; every other run is read here from status.json.
"""

import dataclasses
import json
import os

FINISHED = ("done", "diverged")  # results: a diverged run is an outcome of the experiment, not a failure


@dataclasses.dataclass(frozen=True)
class RunState:
    state: str  # absent (nothing kept: start it), or status.json's running | done | diverged | failed | interrupted
    last_epoch: int | None = None
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


ABSENT = RunState("absent")


def read_status(path: str) -> dict | None:
    """status.json of run directory `path`; None when there is nothing to continue from (no directory,
    or a start that ended before its config.json). A directory with config.json but no status.json
    was stopped while being created: running, to be resumed."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        return None
    try:
        with open(os.path.join(path, "status.json")) as f:
            status = json.load(f)
    except (OSError, ValueError):
        return {"state": "running"}
    return status if isinstance(status, dict) else {"state": "running"}


def run_state(study_name: str, path: str) -> RunState:
    """The run's state through its study's `run_state` hook, else its status.json."""
    from lib.studies import study

    reader = study(study_name).run_state or read_status
    status = reader(path)
    if status is None:
        return ABSENT
    last_epoch = status.get("last_epoch")
    return RunState(str(status.get("state", "running")), last_epoch if isinstance(last_epoch, int) else None,
                    str(status.get("reason") or ""))
