"""A multi-trial abc run killed in its second trial, then `experiment.py resume <run path>`: the done trial is
left as it was, the killed one continues from its checkpoint and ends equal to the uninterrupted run bit for
bit (weights, epoch history, the per-step table, results.json), and results.csv is the same."""

import json

import numpy as np

from lib.studies.abc.steps import read_steps
from tests.core.test_resume import assert_same_run, only_run_dir, run

# two epochs of 20 steps per trial: epoch 2's checkpoint is the one the kill interrupts
ARGV = ["abc", "--config", "fc_abc", "-ds", "digits", "--parameterization", "mup", "-bs", "64", "-N", "40",
        "--width", "16", "--n_layers", "3", "--n_trials", "2"]


def test_a_run_killed_in_its_second_trial_resumes_from_its_parent_directory(tmp_path):
    whole = run(ARGV, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    uninterrupted = only_run_dir(tmp_path / "whole")

    killed = run(ARGV, tmp_path / "killed", kill_at="trial_1/checkpoints/epoch2.h5.partial@3")
    assert killed.returncode < 0, killed.stderr[-2000:]
    parent = only_run_dir(tmp_path / "killed")
    first_trial = (parent / "trial_0" / "results.json").read_text()
    assert json.loads((parent / "trial_1" / "status.json").read_text())["state"] == "running"
    assert not (parent / "results.csv").exists()

    resumed = run(["resume", str(parent)])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "trial 0 (seed 51): done, skipped" in resumed.stdout
    assert "trial 1 (seed 92), resumed after epoch 1" in resumed.stdout
    assert (parent / "trial_0" / "results.json").read_text() == first_trial
    assert_same_run(parent / "trial_1", uninterrupted / "trial_1", ())
    ours, theirs = read_steps(str(parent / "trial_1")), read_steps(str(uninterrupted / "trial_1"))
    assert ours.keys() == theirs.keys() and all(np.array_equal(ours[key], theirs[key]) for key in theirs)
    assert (parent / "results.csv").read_text() == (uninterrupted / "results.csv").read_text()


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    assert run(ARGV, tmp_path).returncode == 0
    parent = only_run_dir(tmp_path)
    before = {path: path.read_bytes() for path in parent.rglob("*") if path.is_file() and path.name != "argv.txt"}
    again = run(["resume", str(parent)])
    assert again.returncode == 0, again.stderr[-2000:]
    assert "trial 1 (seed 92): done, skipped" in again.stdout
    after = {path: path.read_bytes() for path in parent.rglob("*") if path.is_file() and path.name != "argv.txt"}
    assert after == before
