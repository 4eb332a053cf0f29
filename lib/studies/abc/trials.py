"""Where an abc run stands: one run path holding a trial_<i>/ run directory per trial (lib.studies.abc.run).

run_state is the study's `run_state` hook (lib.studies.Study): a sweep reads it to leave a run whose trials
all ended, and to resume one with any trial left (`--resume` continues the unfinished trials and starts
the missing ones). No Keras: a sweep's driver reads it for every planned run.
"""

import json
import os

FINISHED = ("done", "diverged")  # a diverged trial is a result, as the original's runner counts it
RESULTS = "results.csv"  # written after the last trial: a run without it has not ended


def trial_dir(path: str, trial: int) -> str:
    return os.path.join(path, f"trial_{trial}")


def trial_state(where: str) -> str | None:
    """The trial's status.json state; None when it has none (not started, or stopped while being created)."""
    try:
        with open(os.path.join(where, "status.json")) as f:
            state = json.load(f).get("state")
    except (OSError, ValueError, AttributeError):
        return None
    return state if isinstance(state, str) else None


def run_state(path: str) -> dict | None:
    """{"state", "last_epoch", "reason"} of the abc run at `path`, as status.json holds a one-directory run's:
    done once every trial of its config.json's --n_trials ended (done or diverged) and results.csv was
    written; otherwise the state of its first unfinished trial ("running" for one never started). None when
    the run path holds no run (no config.json)."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            trials = int(json.load(f)["n_trials"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        return {"state": "failed", "last_epoch": None, "reason": f"{path}/config.json cannot be read"}
    states = [trial_state(trial_dir(path, trial)) for trial in range(trials)]
    unfinished = [(trial, state) for trial, state in enumerate(states) if state not in FINISHED]
    if not unfinished and os.path.isfile(os.path.join(path, RESULTS)):
        diverged = states.count("diverged")
        return {"state": "done", "last_epoch": None,
                "reason": f"{trials} trials ended" + (f", {diverged} of them diverged" if diverged else "")}
    if not unfinished:  # stopped between its last trial and results.csv: resuming writes it
        return {"state": "running", "last_epoch": None, "reason": f"every trial ended; {RESULTS} not written yet"}
    trial, state = unfinished[0]
    return {"state": state or "running", "last_epoch": None, "reason": f"trial {trial} is {state or 'not started'}"}
