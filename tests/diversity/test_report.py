"""The diversity study's `analyze` report: frames agree with run directories written in the study's
formats (history.h5, activations.h5, compare/, validation runs), the recomputed distance is the
mean pairwise RMS difference, every figure and summary.csv are written, and bad input is one
UsageError line with no output."""

import json
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from lib.analysis.files import DPI
from lib.cli import analyze_parser
from lib.errors import UsageError
from lib.storage.epoch_table import EpochTableWriter
from lib.studies.diversity import frames, plots, report

GRID = np.linspace(-5.0, 5.0, 11)
STEPS = 4
OFFSETS = np.array([0.0, 0.1, 0.3])  # f_i = sin + OFFSETS[i] * s: pairwise RMS |a_i - a_j| s, mean 0.2 s
METALEARNING_FILES = [report.LEARNED_FILE, report.DIVERSIFICATION_FILE, report.OUTER_LOSS_FILE, report.TEST_ACCURACY_FILE]
ARMS = {"pure1": (0.60, 0.02), "pure2": (0.58, 0.03), "pure3": (0.55, 0.01), "diverse": (0.66, 0.02), "base": (0.50, 0.04)}


def sin_functions(step: int) -> np.ndarray:
    return np.sin(GRID)[None, :] + OFFSETS[:, None] * step


def elu_functions(step: int) -> np.ndarray:
    """Two ELU-based functions; the second one tilts away, f_2 - f_1 = 0.1 s x."""
    elu = np.where(GRID > 0, GRID, np.expm1(np.minimum(GRID, 0)))
    return np.stack([elu, elu + 0.1 * step * GRID])


def write_metalearning_run(root, name, *, activation, functions, steps=STEPS, distance_column=True, compare=False):
    """A metalearning run directory in the SPEC's formats, written with the real table writer."""
    path = root / "mnist1d" / name
    path.mkdir(parents=True)
    n = functions(0).shape[0]
    config = {"study": "diversity", "activation": activation, "n_activations": n, "steps": steps, "dataset": "mnist1d",
              "act_path": None, "validation_mode": "diverse", "inner_lr": 0.01}
    (path / "config.json").write_text(json.dumps(config))
    history = EpochTableWriter(str(path / "history.h5"), config_json=json.dumps(config), kind="history")
    for step in range(1, steps + 1):
        row = {"outer_loss": 2.0 / step, "final_inner_loss": 1.5 / step, "test_acc": 0.3 + 0.1 * step, "seconds": 1.0}
        row.update({f"metagradient_norm_{i + 1}": 0.01 * (i + 1) * step for i in range(n)})
        if distance_column:
            row["activation_distance"] = frames.mean_pairwise_rms(functions(step))
        history.append(row)
    trajectory = EpochTableWriter(str(path / "activations.h5"), config_json=json.dumps(config), kind="activations",
                                  first_epoch=0)
    trajectory.attrs["grid"] = GRID
    for step in range(steps + 1):
        trajectory.append({"f": functions(step)}, write=False)
    trajectory.flush()
    if compare:
        (path / "compare").mkdir()
        rows = [{"arm": arm, "runs": 3, "test_acc_mean": mean, "test_acc_std": std} for arm, (mean, std) in ARMS.items()]
        pd.DataFrame(rows).to_csv(path / "compare" / "summary.csv", index=False)
    return str(path)


def write_validation_run(root, name, *, act_path, mode, accuracies, results=True):
    """A validation run directory: runs.csv (2 epochs per run) and, when finished, results.json."""
    path = root / "mnist1d" / name
    path.mkdir(parents=True)
    config = {"study": "diversity", "activation": "sin", "dataset": "mnist1d", "act_path": act_path, "validation_mode": mode}
    (path / "config.json").write_text(json.dumps(config))
    rows = [{"run": run, "seed": 100 + run, "epoch": epoch, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0,
             "test_acc": accuracy - 0.1 * (epoch == 1)} for run, accuracy in enumerate(accuracies) for epoch in (1, 2)]
    pd.DataFrame(rows).to_csv(path / "runs.csv", index=False)
    if results:
        (path / "results.json").write_text(json.dumps({"mode": mode, "runs": len(accuracies), "test_acc": accuracies,
                                                        "test_acc_mean": float(np.mean(accuracies)),
                                                        # as validation writes it: null for one run
                                                        "test_acc_std": float(np.std(accuracies, ddof=1))
                                                        if len(accuracies) > 1 else None}))
    return str(path)


@pytest.fixture
def run_dirs(tmp_path):
    sin_run = write_metalearning_run(tmp_path, "meta_sin_n3_seed100", activation="sin", functions=sin_functions, compare=True)
    elu_run = write_metalearning_run(tmp_path, "meta_elu_n2_seed100", activation="elu", functions=elu_functions,
                                     steps=2, distance_column=False)
    validation = write_validation_run(tmp_path, "validation_pure2_activations_seed100", mode="2",
                                      act_path=os.path.join(elu_run, "activations.txt"), accuracies=[0.7, 0.8])
    return {"sin": sin_run, "elu": elu_run, "validation": validation}


@pytest.fixture
def runs(run_dirs):
    return frames.load_diversity_runs(list(run_dirs.values()))


def test_history_frame_has_one_row_per_outer_step(runs):
    history = frames.history(runs)
    assert len(history) == STEPS + 2  # the validation run has no metalearning history
    sin = history[history["run"] == "meta_sin_n3_seed100"]
    assert list(sin["step"]) == [1, 2, 3, 4]
    np.testing.assert_allclose(sin["outer_loss"], [2.0, 1.0, 2 / 3, 0.5])
    np.testing.assert_allclose(sin["metagradient_norm_3"], 0.03 * np.arange(1, 5))
    elu = history[history["run"] == "meta_elu_n2_seed100"]
    assert elu["activation_distance"].isna().all() and elu["metagradient_norm_3"].isna().all()


def test_learned_functions_are_long_and_match_the_file(runs):
    steps = frames.chosen_steps(runs, None)
    assert steps == {"meta_sin_n3_seed100": (0, 2, 4), "meta_elu_n2_seed100": (0, 1, 2)}
    learned = frames.learned_functions(runs, steps)
    assert len(learned) == 3 * 3 * len(GRID) + 3 * 2 * len(GRID)
    rows = learned[(learned["run"] == "meta_sin_n3_seed100") & (learned["step"] == 4) & (learned["activation"] == 3)]
    np.testing.assert_allclose(rows["x"], GRID)
    np.testing.assert_allclose(rows["f"], np.sin(GRID) + 0.3 * 4)
    assert set(learned.loc[learned["run"] == "meta_elu_n2_seed100", "base"]) == {"elu"}


def test_default_steps_are_first_middle_last():
    assert frames.default_steps(300) == (0, 150, 300)
    assert frames.default_steps(1) == (0, 1)
    assert frames.default_steps(0) == (0,)


def test_recomputed_distance_is_the_mean_pairwise_rms(runs):
    distance = frames.pairwise_distance(runs).set_index(["run", "step"])["distance"]
    for step in range(STEPS + 1):  # pairs (0.1, 0.3, 0.2) s, hand-computed: mean 0.2 s
        assert distance[("meta_sin_n3_seed100", step)] == pytest.approx(0.2 * step, abs=1e-12)
    # The elu run's history has no activation_distance; the one pair differs by 0.1 s x on the grid.
    for step in range(3):
        assert distance[("meta_elu_n2_seed100", step)] == pytest.approx(0.1 * step * np.sqrt(np.mean(GRID ** 2)))
    assert np.isnan(frames.mean_pairwise_rms(np.ones((1, 5))))  # one activation: no pair


def test_comparison_holds_compare_arms_and_validation_runs(runs):
    table = frames.comparison(runs)
    sin = table[table["group"] == "meta_sin_n3_seed100"]
    assert list(sin["arm"]) == ["pure1", "pure2", "pure3", "diverse", "base"]
    assert sin.set_index("arm").loc["diverse", "test_acc_mean"] == pytest.approx(0.66)
    # The validation run is grouped with the run that learned its act_path, as arm pure2.
    validation = table[table["run"] == "validation_pure2_activations_seed100"].iloc[0]
    assert (validation["group"], validation["arm"]) == ("meta_elu_n2_seed100", "pure2")
    assert validation["test_acc_mean"] == pytest.approx(0.75) and validation["test_acc_std"] == pytest.approx(np.std([0.7, 0.8], ddof=1))


def test_a_finished_single_run_validation_has_no_standard_deviation(tmp_path):
    path = write_validation_run(tmp_path, "validation_pure1_x_seed100", mode="1", act_path="learned/x.txt",
                                accuracies=[0.6])
    row = frames.comparison(frames.load_diversity_runs([path])).iloc[0]
    assert (row["arm"], row["runs"], row["test_acc_mean"]) == ("pure1", 1, pytest.approx(0.6))
    assert np.isnan(row["test_acc_std"])


def test_unfinished_validation_run_is_summarised_from_its_last_epochs(tmp_path):
    path = write_validation_run(tmp_path, "validation_diverse_x_seed100", mode="diverse", act_path="learned/x.txt",
                                accuracies=[0.6, 0.7, 0.8], results=False)
    row = frames.comparison(frames.load_diversity_runs([path])).iloc[0]
    assert (row["group"], row["arm"], row["runs"]) == ("x", "diverse", 3)
    assert row["test_acc_mean"] == pytest.approx(0.7) and row["test_acc_std"] == pytest.approx(0.1)  # epoch 2, ddof 1


def test_summary_per_run(runs):
    summary = frames.summary(runs, frames.history(runs), frames.pairwise_distance(runs), frames.comparison(runs))
    sin = summary.set_index("run").loc["meta_sin_n3_seed100"]
    assert sin["steps_done"] == STEPS and sin["outer_loss_first"] == pytest.approx(2.0)
    assert sin["outer_loss_last"] == pytest.approx(0.5) and sin["test_acc_last"] == pytest.approx(0.7)
    assert sin["distance_start"] == 0.0 and sin["distance_end"] == pytest.approx(0.2 * STEPS)
    assert sin["diverse_test_acc_mean"] == pytest.approx(0.66) and sin["base_test_acc_std"] == pytest.approx(0.04)
    validation = summary.set_index("run").loc["validation_pure2_activations_seed100"]
    assert validation["kind"] == "validation" and validation["pure2_test_acc_mean"] == pytest.approx(0.75)
    assert np.isnan(validation["steps_done"])


def test_learned_activation_panel_draws_the_base_dashed(runs):
    learned = frames.learned_functions(runs, {"meta_sin_n3_seed100": (2,), "meta_elu_n2_seed100": (1,)})
    ax = Figure().add_subplot()
    plots.plot_learned_activations(learned[learned["run"] == "meta_elu_n2_seed100"], ax)
    lines = ax.get_lines()
    dashed = [line for line in lines if line.get_linestyle() == "--"]
    assert len(lines) == 3 and len(dashed) == 1
    np.testing.assert_allclose(dashed[0].get_ydata(), elu_functions(0)[0])
    np.testing.assert_allclose(lines[1].get_ydata(), elu_functions(1)[1])
    assert ax.get_legend_handles_labels()[1] == ["$f_{1}$", "$f_{2}$", "base: elu"]
    with pytest.raises(ValueError, match="one run"):
        plots.plot_learned_activations(learned, Figure().add_subplot())


def test_comparison_panel_draws_means_and_std_in_percent(runs):
    table = frames.comparison(runs)
    ax = Figure().add_subplot()
    plots.plot_comparison(table, ax)
    points = {label: container for container, label in zip(ax.containers, table["arm"])}
    assert len(ax.containers) == len(table)
    diverse = points["diverse"]
    assert diverse.lines[0].get_ydata()[0] == pytest.approx(66.0)
    bar = diverse.lines[2][0].get_segments()[0]
    assert (bar[0][1], bar[1][1]) == (pytest.approx(64.0), pytest.approx(68.0))
    assert [tick.get_text() for tick in ax.get_xticklabels()] == ["meta_sin_n3_seed100", "meta_elu_n2_seed100"]
    assert ax.get_legend_handles_labels()[1] == ["pure1", "pure2", "pure3", "diverse", "base"]


def test_report_writes_every_figure_and_the_summary(run_dirs, tmp_path):
    out = tmp_path / "report"
    lines = []
    written = report.write_report(list(run_dirs.values()), str(out), progress=lines.append)
    names = [*METALEARNING_FILES, report.COMPARISON_FILE, report.SUMMARY_FILE]
    assert written == [str(out / name) for name in names]
    assert sorted(os.listdir(out)) == sorted(names)
    image = imread(out / report.LEARNED_FILE)  # two metalearning runs x three steps
    assert image.shape[:2] == (round(2 * report.PANEL_SIZE[1] * DPI), round(3 * report.PANEL_SIZE[0] * DPI))
    for name in names[:-1]:
        assert imread(out / name)[..., :3].std() > 0.05, name  # drawn, not a blank canvas
    summary = pd.read_csv(out / report.SUMMARY_FILE)
    assert list(summary["run"]) == ["meta_sin_n3_seed100", "meta_elu_n2_seed100", "validation_pure2_activations_seed100"]
    assert sum(line.startswith("wrote ") for line in lines) == len(names)


def test_chosen_steps_and_no_comparison_without_results(run_dirs, tmp_path):
    out = tmp_path / "out"
    report.write_report([run_dirs["elu"]], str(out), steps=[2, 0], progress=lambda line: None)
    assert sorted(os.listdir(out)) == sorted([*METALEARNING_FILES, report.SUMMARY_FILE])
    assert imread(out / report.LEARNED_FILE).shape[:2] == (round(report.PANEL_SIZE[1] * DPI), round(2 * report.PANEL_SIZE[0] * DPI))


def test_single_activation_run_stopped_before_its_first_step(tmp_path):
    path = write_metalearning_run(tmp_path, "meta_tanh_n1", activation="tanh", functions=lambda step: np.tanh(GRID)[None],
                                  steps=0)
    out = tmp_path / "out"
    report.write_report([path], str(out), progress=lambda line: None)
    summary = pd.read_csv(out / report.SUMMARY_FILE).iloc[0]
    assert summary["steps_done"] == 0 and summary["distance_end_step"] == 0
    assert np.isnan(summary["distance_start"]) and np.isnan(summary["outer_loss_last"])
    runs = frames.load_diversity_runs([path])
    ax = Figure().add_subplot()
    plots.plot_diversification(frames.pairwise_distance(runs), ax)
    assert "n = 1, no pair: meta_tanh_n1" in ax.get_title()


@pytest.mark.parametrize("value", ["1,x", "-1", "0,,4", ""])
def test_bad_activation_steps_flag_is_a_usage_error(value):
    parser = analyze_parser()
    assert list(parser.parse_args(["run", "--activation_steps", "0,2"]).activation_steps) == [0, 2]
    with pytest.raises(UsageError, match="--activation_steps") as caught:
        parser.parse_args(["run", "--activation_steps", value])
    assert "\n" not in str(caught.value)


def write_foreign_config(path):
    (path / "config.json").write_text(json.dumps({"arch": "constnet"}))


# case: (damage to the elu run, what the one-line error must say)
BAD_INPUTS = {
    "step beyond the last": (None, "records outer steps 0..2"),
    "no activations.h5": (lambda path: (path / "activations.h5").unlink(), "has no activations.h5"),
    "truncated activations.h5": (lambda path: (path / "activations.h5").write_bytes(b"\x89HDF"), "not a readable HDF5"),
    "not a diversity run": (write_foreign_config, "not a diversity-study run"),
    "broken compare summary": (lambda path: ((path / "compare").mkdir(), (path / "compare" / "summary.csv").write_text("arm\n")),
                               "lacks the columns test_acc_mean, test_acc_std"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(run_dirs, tmp_path, case):
    damage, message = BAD_INPUTS[case]
    if damage is not None:
        damage(tmp_path / "mnist1d" / "meta_elu_n2_seed100")
    out = tmp_path / "out"
    with pytest.raises(UsageError) as caught:
        report.write_report([run_dirs["sin"], run_dirs["elu"]], str(out), steps=[3], progress=lambda line: None)
    text = str(caught.value)
    assert "\n" not in text and message in text and "meta_elu_n2_seed100" in text, text
    assert not out.exists()
