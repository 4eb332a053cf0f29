"""The abc study's run end to end on digits (tiny): files, the per-step table, skipping done trials, the
best-validation test accuracy and results.csv."""

import csv
import json
import os

import numpy as np
import pytest

from lib.cli import main
from lib.studies.abc.steps import read_steps

FLAGS = ["abc", "--config", "fc_abc", "-ds", "digits", "--parameterization", "ipllr", "-bs", "64", "-N", "30",
         "--width", "16", "--n_layers", "3"]
RUN = "ipllr-L2-m16-relu-lr0.001-bs64-bias-warmup1-seed42"


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory):
    out = tmp_path_factory.mktemp("abc")
    assert main([*FLAGS, "--n_trials", "2", "--output_dir", str(out)]) == 0
    return out / "digits" / RUN


def test_each_trial_is_a_run_directory_with_its_seed(two_trials):
    for trial, seed in enumerate([51, 92]):  # the runner's randint(0, 100) after seeding NumPy with 42
        path = two_trials / f"trial_{trial}"
        for name in ("config.json", "status.json", "results.json", "history.h5", "per_step/history.h5"):
            assert (path / name).exists(), name
        assert json.loads((path / "trial.json").read_text()) == {"trial": trial, "seed": seed}
        assert json.loads((path / "status.json").read_text())["state"] == "done"
        assert os.listdir(path / "tb" / "abc")


def test_the_per_step_table_has_one_row_per_sgd_step(two_trials):
    steps = read_steps(str(two_trials / "trial_0"))
    # 1,248 training examples in batches of 64: an epoch is 20 steps; -N 30 cuts the second one short
    assert len(steps["loss"]) == 30
    assert np.all(np.isfinite(steps["loss"])) and np.all((steps["likelihood"] > 0) & (steps["likelihood"] < 1))
    assert np.all((steps["accuracy"] >= 0) & (steps["accuracy"] <= 1)) and np.all(steps["abs_output"] > 0)
    # IP-LLR: the calibrated first step, then the mean-field rates eta * m (input and output), eta * m^2
    assert steps["lr_input_layer"][0] == pytest.approx(1e-3 * 16 ** 1.5)
    assert np.allclose(steps["lr_input_layer"][1:], 1e-3 * 16)
    assert np.allclose(steps["lr_intermediate_layers"][1:], 1e-3 * 16 ** 2)
    assert np.allclose(steps["lr_output_layer"][1:], 1e-3 * 16)


def test_the_test_score_is_the_best_validation_epochs(two_trials):
    results = json.loads((two_trials / "trial_0" / "results.json").read_text())
    assert results["best_epoch"] in (1, 2) and 0 <= results["test_acc"] <= 1
    with open(two_trials / "results.csv") as f:
        rows = list(csv.reader(f))
    accuracies = [float(row[5]) for row in rows[1:3]]
    assert accuracies[0] == pytest.approx(results["test_acc"])
    assert rows[3][0] == "mean" and float(rows[3][5]) == pytest.approx(np.mean(accuracies))
    assert rows[4][0] == "std" and float(rows[4][5]) == pytest.approx(np.std(accuracies))


def test_a_rerun_skips_done_trials_and_adds_the_missing_ones(two_trials, capsys):
    before = (two_trials / "trial_0" / "results.json").read_text()
    assert main([*FLAGS, "--n_trials", "3", "--output_dir", str(two_trials.parent.parent)]) == 0
    printed = capsys.readouterr().out
    assert "trial 0 (seed 51): done, skipped" in printed and "trial 1 (seed 92): done, skipped" in printed
    assert (two_trials / "trial_0" / "results.json").read_text() == before
    assert json.loads((two_trials / "trial_2" / "status.json").read_text())["state"] == "done"


def test_debug_saves_nothing(tmp_path):
    assert main([*FLAGS, "--debug", "--output_dir", str(tmp_path)]) == 0
    assert not os.listdir(tmp_path)


def test_analyze_takes_the_run_directory(two_trials, tmp_path, capsys):
    # the run path holds the latest command's config.json, by which `analyze` finds the study
    assert json.loads((two_trials / "config.json").read_text())["study"] == "abc"
    assert main(["analyze", str(two_trials), "--out", str(tmp_path / "report")]) == 0
    assert {"loss.png", "output.png", "summary.csv"} <= set(os.listdir(tmp_path / "report"))


def test_a_rerun_with_another_step_budget_is_refused_before_anything_is_written(two_trials, capsys):
    before = sorted(path for path in two_trials.rglob("*"))
    config = (two_trials / "config.json").read_text()
    assert main([*FLAGS, "-N", "40", "--n_trials", "2", "--output_dir", str(two_trials.parent.parent)]) == 2
    (error,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "holds trials of another configuration (model.training.n_steps 30 -> 40; n_steps 30 -> 40)" in error
    assert sorted(path for path in two_trials.rglob("*")) == before and (two_trials / "config.json").read_text() == config


def test_a_diverged_trial_is_a_result_that_a_rerun_keeps(tmp_path, capsys):
    flags = [*FLAGS, "--parameterization", "mup", "-lr", "1e12", "--output_dir", str(tmp_path)]
    assert main([*flags, "--n_trials", "1"]) == 0
    (run,) = (tmp_path / "digits").iterdir()
    assert json.loads((run / "trial_0" / "status.json").read_text())["state"] == "diverged"
    assert main([*flags, "--n_trials", "2"]) == 0
    assert "trial 0 (seed 51): diverged, skipped" in capsys.readouterr().out
    with open(run / "results.csv") as f:
        assert [row[2] for row in csv.reader(f)][1:3] == ["diverged", "diverged"]
