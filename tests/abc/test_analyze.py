"""The abc study's `analyze` report: runs written with the real writers (RunDirectory, the per-step
EpochTableWriter, run.py's results.csv) give the summary and the results table by activation as NumPy
computes them over the trials' results.json, the loss and mean |output| bands over trials, the figures
and CSV files; bad input is one UsageError line with no output."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from lib.cli import main
from lib.config import to_json
from lib.errors import UsageError
from lib.runs.run_dir import RunDirectory
from lib.storage.epoch_table import EpochTableWriter
from lib.studies.abc import frames, plots, report
from lib.studies.abc.config import AbcConfig, resolve, run_path, trial_seeds
from lib.studies.abc.run import TRIAL_FILE, trial_dir, write_results_table

STEPS = 6


def write_run(root, activation, trials, *, parameterization="ipllr", width=16, **flags) -> str:
    """A run as run.py leaves it: per trial (a dict: `loss` and `abs_output` per step, `test_acc`, `state`) its
    run directory with config.json, trial.json, per_step/history.h5, results.json and status.json, then
    results.csv. A running trial has no results.json."""
    config = resolve(AbcConfig(config="fc_abc", dataset="digits", parameterization=parameterization,
                               activation=activation, width=width, n_layers=3, n_steps=STEPS, batch_size=64,
                               n_trials=len(trials), output_dir=str(root), **flags))
    path = run_path(config)
    for index, (seed, trial) in enumerate(zip(trial_seeds(config), trials)):
        run = RunDirectory.create(trial_dir(path, index), overwrite=False, config_json=to_json(config),
                                  argv=["experiment.py", "abc"])
        run.write_json(TRIAL_FILE, {"trial": index, "seed": seed})
        os.makedirs(run.file("per_step"))
        table = EpochTableWriter(run.file(frames.STEP_TABLE), config_json=to_json(config), kind="steps")
        for loss, output in zip(trial["loss"], trial["abs_output"]):
            table.append({"abs_output": output, "accuracy": 0.5, "likelihood": math.exp(-loss), "loss": loss,
                          "lr_input_layer": 0.1, "lr_intermediate_layers": 1.0, "lr_output_layer": 0.1}, write=False)
        table.flush()
        state = trial.get("state", "done")
        if state != "running":
            run.write_json("results.json", {"best_epoch": 1, "best_val_acc": trial["test_acc"], "test_acc": trial["test_acc"],
                                            "diverged": state == "diverged", "epochs_completed": 1})
            run.set_status(state, last_epoch=1)
        else:
            run.release()
    write_results_table(path, config)
    return path


def trial(test_acc, loss, abs_output=None, **extra) -> dict:
    loss = np.asarray(loss, dtype=np.float64)
    return {"test_acc": test_acc, "loss": loss, "abs_output": np.full(len(loss), 0.1) if abs_output is None else abs_output,
            **extra}


def falling(start, end, steps=STEPS):
    return np.linspace(start, end, steps)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    """IP-LLR's relu at chance and gelu trained (3 trials each), and a muP relu run whose third trial is running."""
    root = tmp_path_factory.mktemp("runs")
    relu = [trial(0.08, falling(2.30, 2.20), falling(1e-9, 0.2)), trial(0.11, falling(2.31, 2.25), falling(1e-9, 0.3)),
            trial(0.10, falling(2.29, 2.10), falling(1e-9, 0.4))]
    gelu = [trial(0.96, falling(2.30, 0.10), falling(1e-9, 4.0)), trial(0.97, falling(2.30, 0.05), falling(1e-9, 5.0)),
            trial(0.93, falling(2.30, 0.30), falling(1e-9, 3.0))]
    mup = [trial(0.97, falling(2.3, 0.2)), trial(0.95, falling(2.3, 0.4)),
           trial(None, falling(2.3, 1.0, steps=3), state="running")]
    return {"relu": write_run(root, "relu", relu), "gelu": write_run(root, "gelu", gelu),
            "mup": write_run(root, "relu", mup, parameterization="mup"), "trials": {"relu": relu, "gelu": gelu, "mup": mup}}


def built_of(paths) -> dict:
    return report.build_frames(frames.load_abc_runs(paths))


def results_csv(path) -> dict:
    table = pd.read_csv(os.path.join(path, "results.csv"), dtype=str).set_index("trial")
    return {key: float(table.loc[key, "test_acc"]) for key in ("mean", "std")}


def test_the_step_table_is_where_steps_py_writes_it():
    from lib.studies.abc import steps

    assert frames.STEP_TABLE == steps.STEP_TABLE
    names = [metric.name for metric in steps.step_metrics()]
    assert {f"{steps.STEP_PREFIX}{column}" for column in frames.STEP_COLUMNS} <= set(names)


def accuracies_in_results_json(path) -> list[float]:
    """The test accuracies in the trials' results.json (a running trial has none)."""
    files = [os.path.join(path, f"trial_{index}", "results.json") for index in frames.trial_indices(path)]
    accuracies = []
    for file in filter(os.path.exists, files):
        with open(file) as f:
            accuracies.append(json.load(f)["test_acc"])
    return accuracies


def test_summary_is_numpy_mean_and_std_over_the_trials_results_json(recorded):
    keys = ["relu", "gelu", "mup"]
    summary = built_of([recorded[key] for key in keys])["summary"].set_index("run")
    assert list(summary.index) == [os.path.basename(recorded[key]) for key in keys]
    for key in keys:
        row, accuracies = summary.loc[os.path.basename(recorded[key])], accuracies_in_results_json(recorded[key])
        losses = [trial["loss"][-1] for trial in recorded["trials"][key]]
        assert row["test_acc_mean"] == pytest.approx(np.mean(accuracies))
        assert row["test_acc_std"] == pytest.approx(np.std(accuracies))
        assert (row["test_acc_mean"], row["test_acc_std"]) == pytest.approx(tuple(results_csv(recorded[key]).values()))
        assert row["final_loss_mean"] == pytest.approx(np.mean(losses))
        assert row["final_loss_std"] == pytest.approx(np.std(losses))
    mup = summary.loc[os.path.basename(recorded["mup"])]
    assert (mup["trials"], mup["trials_done"], mup["tested"]) == (3, 2, 2)  # the running trial has no test accuracy
    assert (mup["parameterization"], mup["activation"], mup["width"], mup["n_layers"], mup["lr"], mup["batch_size"],
            mup["dataset"]) == ("mup", "relu", 16, 3, 0.001, 64, "digits")


def test_results_table_is_per_parameterization_and_activation(recorded):
    built = built_of([recorded["relu"], recorded["gelu"], recorded["mup"]])
    table = built["accuracy"].set_index(["parameterization", "activation"])
    assert list(table.index) == [("ipllr", "gelu"), ("ipllr", "relu"), ("mup", "relu")]
    assert table.loc[("ipllr", "relu"), "test_acc_mean"] == pytest.approx(np.mean([0.08, 0.11, 0.10]))
    assert table.loc[("ipllr", "gelu"), "test_acc_std"] == pytest.approx(np.std([0.96, 0.97, 0.93]))
    grid = report.accuracy_grid(built["accuracy"])
    assert list(grid.columns) == ["ipllr", "mup"] and list(grid.index) == ["gelu", "relu"]
    assert grid.loc["relu", "ipllr"] == f"{100 * np.mean([0.08, 0.11, 0.10]):.2f} ± {100 * np.std([0.08, 0.11, 0.10]):.2f} (3)"
    assert grid.loc["gelu", "mup"] == "-" and grid.loc["relu", "mup"].endswith("(2)")


def test_runs_of_several_seeds_are_pooled_and_other_settings_get_columns(tmp_path):
    first = write_run(tmp_path, "tanh", [trial(0.5, falling(2.3, 1.0))])
    second = write_run(tmp_path, "tanh", [trial(0.7, falling(2.3, 1.0)), trial(0.9, falling(2.3, 1.0))], seed=7)
    wide = write_run(tmp_path, "tanh", [trial(0.8, falling(2.3, 1.0))], width=32)
    built = built_of([first, second, wide])
    table = built["accuracy"].set_index("width")
    assert list(table.columns[:2]) == ["parameterization", "activation"]
    assert table.loc[16, "trials"] == 3 and table.loc[16, "test_acc_mean"] == pytest.approx(0.7)
    assert table.loc[16, "test_acc_std"] == pytest.approx(np.std([0.5, 0.7, 0.9]))
    assert list(report.accuracy_grid(built["accuracy"]).columns) == ["ipllr m=16", "ipllr m=32"]
    # Two runs that only their runner's seed tells apart: the curves say so; the printed runs are named.
    labels = frames.curve_labels(built["summary"])
    assert list(labels["curve"]) == ["tanh m=16 seed 42", "tanh m=16 seed 7", "tanh m=32 seed 42"]
    assert "run" not in report.printed_summary(built["summary"]).columns


def test_bands_are_mean_min_and_max_over_the_trials_that_recorded_the_step(recorded):
    bands = built_of([recorded["mup"]])["bands"]
    losses = [trial["loss"] for trial in recorded["trials"]["mup"]]
    assert list(bands["step"]) == list(range(1, STEPS + 1))
    assert list(bands["trials"]) == [3, 3, 3, 2, 2, 2]  # the running trial recorded 3 steps
    for step, row in bands.set_index("step").iterrows():
        present = [loss[step - 1] for loss in losses if len(loss) >= step]
        assert row["loss_mean"] == pytest.approx(np.mean(present))
        assert (row["loss_min"], row["loss_max"]) == pytest.approx((np.min(present), np.max(present)))



def test_every_band_contains_its_mean(recorded):
    bands = built_of([recorded["relu"], recorded["gelu"], recorded["mup"]])["bands"]
    slack = 1e-12  # the mean of equal values may exceed them by a rounding error
    for column in ("loss", "abs_output"):
        low, mean, high = (bands[f"{column}_{statistic}"] for statistic in ("min", "mean", "max"))
        assert np.all(low <= mean * (1 + slack)) and np.all(mean <= high * (1 + slack)), column
        assert np.any(low < high), column  # the trials differ: a band, not a line


def test_a_diverged_trials_non_finite_steps_are_left_out(tmp_path):
    diverging = falling(2.3, 1.0)
    diverging[3:] = [math.inf, math.nan, math.nan]
    path = write_run(tmp_path, "relu", [trial(0.6, falling(2.3, 0.5)), trial(0.1, diverging, state="diverged")])
    built = built_of([path])
    bands = built["bands"].set_index("step")
    assert bands.loc[4, "loss_mean"] == pytest.approx(falling(2.3, 0.5)[3]) and bands.loc[3, "loss_mean"] == pytest.approx(
        np.mean([falling(2.3, 0.5)[2], diverging[2]]))
    row = built["summary"].iloc[0]
    assert (row["trials_done"], row["tested"]) == (1, 2)  # the diverged trial's results.json has a test accuracy
    assert row["final_loss_mean"] == pytest.approx(0.5) and row["final_loss_std"] == 0.0


def test_band_panel_draws_the_means_with_a_chance_line_and_log_outputs(recorded):
    bands = built_of([recorded["relu"], recorded["gelu"], recorded["mup"]])["bands"]
    ax = Figure().add_subplot()
    plots.plot_band(bands, ax, "loss")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["chance (ln 10)", "ipllr gelu", "ipllr relu", "mup relu"]
    np.testing.assert_allclose(lines["ipllr gelu"].get_ydata(),
                               np.mean([trial["loss"] for trial in recorded["trials"]["gelu"]], axis=0))
    assert lines["chance (ln 10)"].get_ydata()[0] == pytest.approx(math.log(10))
    # a colour per activation, a line style per parameterization
    assert lines["ipllr relu"].get_color() == lines["mup relu"].get_color() != lines["ipllr gelu"].get_color()
    assert lines["ipllr relu"].get_linestyle() == "-" and lines["mup relu"].get_linestyle() == "--"
    assert len(ax.collections) == 3 and "min to max" in ax.get_title()  # one band per run
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    low, high = bands[bands["curve"] == "ipllr relu"]["loss_min"], bands[bands["curve"] == "ipllr relu"]["loss_max"]
    assert band.min() == pytest.approx(low.min()) and band.max() == pytest.approx(high.max())
    ax = Figure().add_subplot()
    plots.plot_band(bands, ax, "abs_output")
    assert ax.get_yscale() == "log" and "chance (ln 10)" not in [line.get_label() for line in ax.get_lines()]


def test_one_parameterization_labels_the_lines_by_activation(recorded):
    labels = frames.curve_labels(built_of([recorded["relu"], recorded["gelu"]])["summary"])
    assert list(labels["curve"]) == ["relu", "gelu"]


def test_report_writes_the_figures_and_tables(recorded, tmp_path):
    paths = [recorded["relu"], recorded["gelu"], recorded["mup"]]
    out = tmp_path / "report"
    lines = []
    written = report.write_abc_report(paths, str(out), lines.append)
    names = [report.LOSS_FILE, report.OUTPUT_FILE, report.SUMMARY_FILE, report.ACCURACY_TABLE, report.TRIALS_TABLE]
    assert written == [str(out / name) for name in names] and sorted(os.listdir(out)) == sorted(names)
    for name in names[:2]:
        assert imread(out / name)[..., :3].std() > 0.05, name  # drawn, not a blank canvas
    assert len(pd.read_csv(out / report.SUMMARY_FILE)) == 3 and len(pd.read_csv(out / report.TRIALS_TABLE)) == 9
    text = "\n".join(lines)
    assert lines[0] == f"analyze: 3 abc runs, 9 trials -> {out}"
    assert f"{100 * np.mean([0.96, 0.97, 0.93]):.2f} ± {100 * np.std([0.96, 0.97, 0.93]):.2f}" in text
    assert "2/3" in text  # muP: trials done of those read
    assert sum(line.startswith("wrote ") for line in lines) == len(names)


def test_trial_folders_are_grouped_into_their_run_and_one_run_reports_beside_it(recorded):
    path = recorded["gelu"]
    runs = frames.load_abc_runs([os.path.join(path, "trial_2"), os.path.join(path, "trial_0")])
    assert len(runs) == 1 and runs[0].path == path and [trial.index for trial in runs[0].trials] == [0, 2]
    assert [trial.seed for trial in runs[0].trials] == [51, 14]  # the runner's trial seeds
    written = report.write_abc_report([os.path.join(path, "trial_1")], progress=lambda line: None)
    assert os.path.dirname(written[0]) == os.path.join(path, "report")  # the run's report folder, not the trial's


def test_experiment_analyze_dispatches_to_the_abc_report(recorded, tmp_path, capsys):
    trials = [os.path.join(recorded["relu"], f"trial_{index}") for index in range(3)]
    assert main(["analyze", *trials, "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / report.LOSS_FILE).exists() and "test accuracy % by activation" in capsys.readouterr().out


def write_foreign_config(path):
    with open(os.path.join(path, "trial_1", "config.json"), "w") as f:
        json.dump({"study": "weightnorm", "nn": "mlp"}, f)


def rewrite_json(name, **changes):
    def damage(path):
        file = os.path.join(path, "trial_1", name)
        with open(file) as f:
            value = json.load(f)
        with open(file, "w") as f:
            json.dump({**value, **changes}, f)
    return damage


def remove(name):
    return lambda path: os.remove(os.path.join(path, "trial_1", name))


def overwrite(name, content: bytes):
    return lambda path: open(os.path.join(path, "trial_1", name), "wb").write(content)


def no_trials(path):
    for index in range(2):
        os.rename(os.path.join(path, f"trial_{index}"), os.path.join(path, f"old_{index}"))


def other_kind(path):
    file = os.path.join(path, "trial_1", frames.STEP_TABLE)
    EpochTableWriter(file, kind="history").append({"loss": 1.0})


# case: (damage to the second run, what the one-line error must say)
BAD_INPUTS = {
    "no trial folders": (no_trials, "no trial_<i> folders"),
    "another study's trial": (write_foreign_config, "does not name study 'abc'"),
    "config without a field": (rewrite_json("config.json", width=None), "config.json lacks width"),
    "trials of other settings": (rewrite_json("config.json", activation="tanh"), "another activation"),
    "no status.json": (remove("status.json"), "has no status.json"),
    "unknown state": (rewrite_json("status.json", state="finished"), "has state 'finished'"),
    "done without results": (remove("results.json"), "has no results.json"),
    "results not a number": (rewrite_json("results.json", test_acc="high"), "test_acc is 'high', not a number"),
    "broken results.json": (overwrite("results.json", b"{"), "cannot read"),
    "done without steps": (remove(frames.STEP_TABLE), "has no per_step/history.h5"),
    "truncated step table": (overwrite(frames.STEP_TABLE, b"\x89HDF"), "not a readable HDF5"),
    "not a step table": (other_kind, "is not an abc per-step table"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case):
    damage, message = BAD_INPUTS[case]
    good = write_run(tmp_path, "relu", [trial(0.5, falling(2.3, 1.0))] * 2)
    bad = write_run(tmp_path, "gelu", [trial(0.5, falling(2.3, 1.0))] * 2)
    damage(bad)
    out = tmp_path / "out"
    with pytest.raises(UsageError) as caught:
        report.write_abc_report([good, bad], str(out), lambda line: None)
    text = str(caught.value)
    assert "\n" not in text and message in text and os.path.basename(bad) in text, text
    assert not out.exists()


def test_a_missing_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        report.write_abc_report([str(tmp_path / "nothing")], str(tmp_path / "out"), lambda line: None)
    assert not (tmp_path / "out").exists()
