"""Where an abc run stands (the sweeps' run_state hook) and its one writer: the run path's lock keeps a second
command off a run whose trials another process is training."""

import json
import os

import numpy as np
import pytest

from lib.cli import main
from lib.runs.run_dir import lock_directory, unlock_directory
from lib.studies.abc.trials import run_state
from tests.core.test_resume import only_run_dir

ARGV = ["abc", "--config", "fc_abc", "-ds", "digits", "--parameterization", "mup", "-bs", "64", "-N", "40",
        "--width", "16", "--n_layers", "3", "--n_epochs", "1"]


def write_run(path, trials: int, states: list, results: bool):
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"study": "abc", "n_trials": trials}))
    for trial, state in enumerate(states):
        (path / f"trial_{trial}").mkdir()
        if state is not None:
            (path / f"trial_{trial}" / "status.json").write_text(json.dumps({"state": state}))
    if results:
        (path / "results.csv").write_text("trial\n")


@pytest.mark.parametrize("trials, states, results, expected", [
    (2, ["done", "diverged"], True, ("done", "2 trials ended, 1 of them diverged")),
    (2, ["done", "done"], False, ("running", "every trial ended; results.csv not written yet")),
    (3, ["done", "done"], True, ("running", "trial 2 is not started")),  # --n_trials grew
    (2, ["done", "failed"], True, ("failed", "trial 1 is failed")),
    (2, ["interrupted", None], False, ("interrupted", "trial 0 is interrupted")),
    (1, [None], False, ("running", "trial 0 is not started")),
])
def test_run_state_is_done_only_when_every_trial_ended(tmp_path, trials, states, results, expected):
    write_run(tmp_path / "run", trials, states, results)
    state = run_state(str(tmp_path / "run"))
    assert (state["state"], state["reason"]) == expected and state["last_epoch"] is None


def test_run_state_of_nothing_is_none(tmp_path):
    assert run_state(str(tmp_path / "absent")) is None
    (tmp_path / "started").mkdir()
    assert run_state(str(tmp_path / "started")) is None  # stopped before its config.json: start it


def test_a_second_command_on_a_run_being_trained_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*ARGV, "--n_trials", "1", "--output_dir", str(out)]) == 0
    path = only_run_dir(out)
    assert run_state(str(path))["state"] == "done"
    before = sorted(os.listdir(path))
    capsys.readouterr()
    held = lock_directory(str(path))  # as the command training its trials holds it
    try:
        assert main([*ARGV, "--n_trials", "2", "--output_dir", str(out)]) == 2
    finally:
        unlock_directory(str(path), held)
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [f"error: {path} is being written by another initlab process (pid {os.getpid()}); wait for it "
                     "to end or stop it first (one writer per run)"]
    assert sorted(os.listdir(path)) == before  # no trial_1, config.json as it was
    assert main([*ARGV, "--n_trials", "2", "--output_dir", str(out)]) == 0  # once it is free: the added trial
    assert run_state(str(path))["reason"] == "2 trials ended"


def test_the_run_paths_results_are_the_means_over_its_trials(tmp_path):
    """<run path>/results.json, what a sweep tabulates: the trials' mean and std (population, as results.csv)."""
    out = tmp_path / "out"
    assert main([*ARGV, "--n_trials", "2", "--output_dir", str(out)]) == 0
    path = only_run_dir(out)
    trials = [json.loads((path / f"trial_{trial}" / "results.json").read_text()) for trial in range(2)]
    results = json.loads((path / "results.json").read_text())
    accuracies = [trial["test_acc"] for trial in trials]
    assert (results["trials"], results["trials_tested"], results["diverged_trials"]) == (2, 2, 0)
    assert results["test_acc"] == pytest.approx(np.mean(accuracies), abs=1e-12)
    assert results["test_acc_std"] == pytest.approx(np.std(accuracies), abs=1e-12)
    assert results["best_val_acc"] == pytest.approx(np.mean([trial["best_val_acc"] for trial in trials]), abs=1e-12)
