"""The weightnorm study's `analyze` report: run directories written with the real writers (RunDirectory,
HistoryFiles, config.json from WeightnormConfig) give the summary, the robustness tables of the poster
(reference/weightnorm_abc.md §A7) as computed by hand, the figures and CSV files; bad input is one
UsageError line with no output."""

import json
import math
import os

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from lib.config import to_json
from lib.errors import UsageError
from lib.runs.history import HistoryFiles
from lib.runs.run_dir import RunDirectory
from lib.studies.weightnorm import frames, plots, report
from lib.studies.weightnorm.config import WeightnormConfig, run_path

MLP = {"dataset": "mnist", "nn": "mlp", "lr": 0.01}
WRN = {"dataset": "cifar10", "nn": "wrn", "wrn_n": 1, "wrn_k": 2, "num_epochs": 3}  # WRN-10-2


def write_run(root, *, state="done", val_acc=(), test_acc=None, nan_epoch=False, prefix=None, **flags) -> str:
    """A trained run as run.py leaves it: config.json, status.json, history.h5 with one row per epoch
    (train accuracy = validation + 0.01), and results.json once done or diverged. `nan_epoch`: the
    diverged epoch's NaN row is in the history too, but not among the completed epochs."""
    flags = {"num_epochs": max(len(val_acc), 1), **flags}
    config = WeightnormConfig(output_dir=str(root), model_prefix=prefix, weight_norm=True, **flags)
    run = RunDirectory.create(run_path(config), overwrite=False, config_json=to_json(config), argv=["experiment.py", "weightnorm"])
    history = HistoryFiles(run.file("history.h5"), run.file("history.csv"), to_json(config))
    rows = [(value + 0.01, value, 1.0 - value) for value in val_acc] + [(math.nan,) * 3] * nan_epoch
    for epoch, (acc, val, loss) in enumerate(rows, 1):
        history.append(epoch, {"loss": loss, "acc": acc, "val_loss": loss, "val_acc": val, "learning_rate": config.lr})
    history.close()
    completed = len(val_acc)
    if state in frames.FINISHED:
        best = int(np.argmax(val_acc)) + 1 if completed else None
        run.write_json("results.json", {
            "epochs": config.num_epochs, "epochs_completed": completed, "diverged": state == "diverged",
            "best_val_acc": val_acc[best - 1] if best else None, "best_epoch": best,
            "final_val_acc": val_acc[-1] if completed else None, "test_acc": test_acc,
            "test_loss": None if test_acc is None else 1.0 - test_acc,
            "test_error_percent": None if test_acc is None else 100.0 * (1.0 - test_acc)})
    if state == "running":
        run.release()  # status.json stays as RunDirectory.create wrote it: running, no last_epoch
    else:
        run.set_status(state, reason=f"diverged: loss is nan in epoch {completed + 1}" if state == "diverged" else "",
                       last_epoch=completed)
    return run.path


def write_hessian_run(root, *, log_spectral_norm, **flags) -> str:
    config = WeightnormConfig(output_dir=str(root), weight_norm=True, hessian=True, dataset="cifar10", nn="wrn",
                              wrn_n=6, **flags)
    run = RunDirectory.create(run_path(config), overwrite=False, config_json=to_json(config), argv=["experiment.py"])
    run.write_json("results.json", {"hessian_top_eigenvalue": math.exp(log_spectral_norm), "log_spectral_norm": log_spectral_norm})
    run.set_status("done", last_epoch=0)
    return run.path


def depth_runs(root) -> list[str]:
    """MNIST MLPs at depths 2 and 100, two inits; the datadep seeds diverge at depth 100 (§A7)."""
    proposed, datadep = {**MLP, "init": "he_proposed"}, {**MLP, "init": "he_datadep"}
    return [write_run(root, val_acc=[0.90, 0.95], test_acc=0.98, num_layers=2, seed=1, **proposed),
            write_run(root, val_acc=[0.92, 0.94], test_acc=0.96, num_layers=2, seed=2, **proposed),
            write_run(root, val_acc=[0.90, 0.93], test_acc=0.95, num_layers=100, seed=1, **proposed),
            write_run(root, val_acc=[0.91, 0.90], test_acc=0.93, num_layers=100, seed=2, **proposed),
            write_run(root, state="running", val_acc=[0.5], num_layers=100, seed=3, num_epochs=2, **proposed),
            write_run(root, val_acc=[0.95, 0.96], test_acc=0.97, num_layers=2, seed=1, **datadep),
            write_run(root, val_acc=[0.96, 0.97], test_acc=0.99, num_layers=2, seed=2, **datadep),
            write_run(root, state="diverged", nan_epoch=True, num_layers=100, seed=1, num_epochs=2, **datadep),
            write_run(root, state="diverged", val_acc=[0.2], test_acc=0.2, nan_epoch=True, num_layers=100, seed=2,
                      num_epochs=2, **datadep),
            write_run(root, state="interrupted", val_acc=[0.1], num_layers=100, seed=3, num_epochs=2, **datadep)]


def lr_runs(root) -> list[str]:
    """WRN-10-2 seeds at two learning rates, with and without warmup; each folder lr<LR>[_warmup]."""
    proposed, datadep = {**WRN, "init": "orthogonal_proposed"}, {**WRN, "init": "orthogonal_datadep"}
    fast, slow, warm = {"lr": 0.1, "prefix": "lr0.1"}, {"lr": 0.01, "prefix": "lr0.01"}, {"lr": 0.1, "prefix": "lr0.1_warmup",
                                                                                         "warmup_epochs": 1.0}
    return [write_run(root, val_acc=[0.3, 0.4, 0.5], test_acc=0.5, seed=1, **fast, **proposed),
            write_run(root, state="diverged", val_acc=[0.3], test_acc=0.3, nan_epoch=True, seed=2, **fast, **proposed),
            write_run(root, state="diverged", val_acc=[0.3, 0.4, 0.5, 0.5], test_acc=0.5, nan_epoch=True, seed=3,
                      **{**proposed, "num_epochs": 5}, **fast),  # diverged after epoch 3: it reached it
            write_run(root, state="interrupted", val_acc=[0.3], seed=4, **fast, **proposed),  # not known
            write_run(root, val_acc=[0.3, 0.4, 0.5], test_acc=0.5, seed=1, **warm, **proposed),
            write_run(root, val_acc=[0.3, 0.4, 0.5], test_acc=0.5, seed=2, **warm, **proposed),
            write_run(root, val_acc=[0.3, 0.4, 0.5], test_acc=0.5, seed=1, **slow, **proposed),
            write_run(root, state="diverged", nan_epoch=True, seed=1, **fast, **datadep),
            write_run(root, state="diverged", nan_epoch=True, seed=2, **fast, **datadep),
            write_run(root, val_acc=[0.3, 0.4, 0.5], test_acc=0.5, seed=1, **slow, **datadep),
            write_run(root, state="diverged", val_acc=[0.3, 0.35], test_acc=0.35, nan_epoch=True, seed=2, **slow, **datadep),
            write_run(root, val_acc=[0.3, 0.4], test_acc=0.4, seed=3, **{**datadep, "num_epochs": 2}, **slow)]  # too short


def hessian_runs(root) -> list[str]:
    return [write_hessian_run(root, init="orthogonal_proposed", seed=1, log_spectral_norm=1.2),
            write_hessian_run(root, init="orthogonal_proposed", seed=2, log_spectral_norm=1.4),
            write_hessian_run(root, init="he", seed=1, log_spectral_norm=4.68)]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    """Every fake run, written once for the tests that only read them: {"depth", "lr", "hessian"}: paths."""
    root = tmp_path_factory.mktemp("runs")
    return {"depth": depth_runs(root), "lr": lr_runs(root), "hessian": hessian_runs(root)}


def summary_of(paths) -> pd.DataFrame:
    return frames.summary(frames.load_weightnorm_runs(paths))


def test_depth_counts_layers_as_the_paper():
    assert frames.depth({"nn": "mlp", "num_layers": 200}) == 200
    assert frames.depth({"nn": "cnn", "num_layers": 25}) == 25
    assert frames.depth(WeightnormConfig(nn="resnet", num_blocks=18)) == 110  # ResNet-110: 6B + 2
    assert frames.depth(WeightnormConfig(nn="wrn", wrn_n=6)) == 40  # WRN-40-10: 6N + 4
    with pytest.raises(UsageError, match="unknown network 'vgg'"):
        frames.depth({"nn": "vgg"})


def test_summary_has_one_row_per_run_with_its_status_and_epochs(recorded):
    summary = summary_of(recorded["depth"]).set_index("run")
    assert len(summary) == 10 and summary.index[0] == "mlp-2x128-he_proposed-wn-seed1"
    first = summary.loc["mlp-2x128-he_proposed-wn-seed1"]
    assert (first["depth"], first["method"], first["status"], first["epochs_completed"]) == (2, "he_proposed", "done", 2)
    assert first["best_epoch"] == 2 and first["train_acc"] == pytest.approx(0.96) and first["test_acc"] == 0.98
    running = summary.loc["mlp-100x128-he_proposed-wn-seed3"]
    assert (running["status"], running["epochs_completed"]) == ("running", 1)  # from the history: status has no epoch yet
    failed = summary.loc["mlp-100x128-he_datadep-wn-seed1"]
    assert (failed["status"], failed["epochs_completed"]) == ("diverged", 0)
    assert pd.isna(failed["reached"])  # a 2-epoch run: whether it reaches epoch 3 is not known, even diverged
    assert np.isnan(failed["test_acc"]) and failed["reason"].startswith("diverged")
    assert pd.isna(summary.loc["mlp-100x128-he_datadep-wn-seed3", "reached"])  # interrupted after 1 of 3 epochs
    assert list(summary["setting"].unique()) == ["he_proposed depth 2", "he_proposed depth 100", "he_datadep depth 2",
                                                 "he_datadep depth 100"]


def test_depth_robustness_is_the_mean_over_finished_seeds(recorded):
    table = frames.depth_robustness(summary_of(recorded["depth"])).set_index(["method", "depth"])
    assert len(table) == 4 and set(table["lr"]) == {0.01} and not table["warmup"].any()
    proposed = table.loc[("he_proposed", 100)]  # the running seed 3 is left out
    assert (proposed["runs"], proposed["diverged"]) == (2, 0)
    assert proposed["test_acc_mean"] == pytest.approx(0.94) and proposed["test_acc_std"] == pytest.approx(math.sqrt(2e-4))
    assert proposed["train_acc_mean"] == pytest.approx((0.94 + 0.92) / 2)  # epoch 2 and epoch 1: the best ones
    # Datadep at depth 100: one seed diverged before any checkpoint (counts 0), one after epoch 1 (0.2); the
    # interrupted seed has no test accuracy.
    datadep = table.loc[("he_datadep", 100)]
    assert (datadep["runs"], datadep["diverged"]) == (2, 2)
    assert datadep["test_acc_mean"] == pytest.approx(0.1) and datadep["train_acc_mean"] == pytest.approx(0.105)
    assert table.loc[("he_datadep", 2), "test_acc_mean"] == pytest.approx(0.98)


def test_lr_robustness_is_the_fraction_of_seeds_that_reach_epoch_3(recorded):
    table = frames.lr_robustness(summary_of(recorded["lr"])).set_index(["method", "warmup", "lr"])
    assert set(table["depth"]) == {10} and set(table["reach_epoch"]) == {3}
    expected = {("orthogonal_proposed", False, 0.1): (3, 2),  # done; diverged in epoch 2; diverged in epoch 5
                ("orthogonal_proposed", True, 0.1): (2, 2), ("orthogonal_proposed", False, 0.01): (1, 1),
                ("orthogonal_datadep", False, 0.1): (2, 0), ("orthogonal_datadep", False, 0.01): (2, 1)}
    assert len(table) == len(expected)
    for key, (runs, reached) in expected.items():
        assert (table.loc[key, "runs"], table.loc[key, "reached"]) == (runs, reached), key
        assert table.loc[key, "fraction"] == pytest.approx(reached / runs), key
    # Epoch 4: only seed 3 was to train that long. The 3-epoch seeds are left out, seed 2 too although it
    # diverged: counting the failures of short runs but not their successes would bias the fraction down.
    later = frames.lr_robustness(frames.summary(frames.load_weightnorm_runs(recorded["lr"]), 4))
    assert (later["runs"].sum(), later["reached"].sum(), set(later["reach_epoch"])) == (1, 1, {4})


def test_left_out_runs_are_named_with_the_reason(recorded):
    left_out = frames.left_out(summary_of([*recorded["depth"], *recorded["lr"]]))
    depth = left_out[left_out["table"] == "depth"]
    assert list(depth["why"]) == ["running", "interrupted", "interrupted"]
    assert list(depth["run"]) == ["mnist/mlp-100x128-he_proposed-wn-seed3", "mnist/mlp-100x128-he_datadep-wn-seed3",
                                  "lr0.1/wrn-10-2-orthogonal_proposed-wn-seed4"]
    lr = left_out[left_out["table"] == "LR"].groupby("why")["run"].apply(list)
    assert len(lr["trained fewer than 3 epochs"]) == 10 + 1  # every depth run, and the 2-epoch WRN
    assert lr["interrupted before epoch 3"] == ["lr0.1/wrn-10-2-orthogonal_proposed-wn-seed4"]
    assert set(lr.index) == {"trained fewer than 3 epochs", "interrupted before epoch 3"}


def test_hessian_table_is_mean_and_std_over_seeds(recorded):
    summary = summary_of(recorded["hessian"])
    table = frames.hessian(summary).set_index("method")
    assert table.loc["orthogonal_proposed", "runs"] == 2 and table.loc["orthogonal_proposed", "depth"] == 40
    assert table.loc["orthogonal_proposed", "log_spectral_norm_mean"] == pytest.approx(1.3)
    assert table.loc["orthogonal_proposed", "log_spectral_norm_std"] == pytest.approx(math.sqrt(0.02))
    assert table.loc["he", "log_spectral_norm_mean"] == 4.68 and np.isnan(table.loc["he", "log_spectral_norm_std"])
    assert frames.history(frames.load_weightnorm_runs(recorded["hessian"]), summary).empty
    assert frames.depth_robustness(summary).empty and frames.lr_robustness(summary).empty


def test_curves_per_run_or_mean_per_setting(recorded):
    runs = frames.load_weightnorm_runs(recorded["depth"])
    per_epoch = frames.history(runs, frames.summary(runs))
    assert len(per_epoch) == 2 * 4 + 1 + 2 * 2 + 1 + 2 + 1  # the diverged runs' NaN epochs are rows too
    by_run = frames.curves(per_epoch, "run")
    assert list(by_run["curve"].unique()) == list(per_epoch["run"].unique())
    means = frames.curves(per_epoch, "setting").set_index(["curve", "epoch"])
    assert means.loc[("he_proposed depth 2 (mean of 2)", 2), "val_acc"] == pytest.approx(0.945)
    deep = "he_proposed depth 100 (mean of 3)"
    assert means.loc[(deep, 1), "runs"] == 3 and means.loc[(deep, 2), "runs"] == 2  # the running seed has 1 epoch
    assert means.loc[(deep, 1), "val_acc"] == pytest.approx((0.90 + 0.91 + 0.5) / 3)
    assert means.loc[(deep, 1), "learning_rate"] == pytest.approx(0.01)


def test_lr_panel_draws_percentages_solid_without_warmup_dashed_with(recorded):
    ax = Figure().add_subplot()
    plots.plot_lr_robustness(frames.lr_robustness(summary_of(recorded["lr"])), ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["orthogonal_datadep", "orthogonal_proposed", "orthogonal_proposed + warmup"]
    np.testing.assert_allclose(lines["orthogonal_proposed"].get_xdata(), [0.01, 0.1])
    np.testing.assert_allclose(lines["orthogonal_proposed"].get_ydata(), [100.0, 200.0 / 3])
    np.testing.assert_allclose(lines["orthogonal_datadep"].get_ydata(), [50.0, 0.0])
    assert lines["orthogonal_proposed + warmup"].get_linestyle() == "--" and lines["orthogonal_proposed"].get_linestyle() == "-"
    assert ax.get_xscale() == "log"


def test_depth_panel_draws_test_with_error_bars_and_train_dashed(recorded):
    ax = Figure().add_subplot()
    plots.plot_depth_robustness(frames.depth_robustness(summary_of(recorded["depth"])), ax)
    bars = {container.get_label(): container for container in ax.containers}
    assert sorted(bars) == ["he_datadep", "he_proposed"]
    line, _, (segments,) = bars["he_datadep"]
    np.testing.assert_allclose(line.get_ydata(), [0.98, 0.1])
    np.testing.assert_allclose(segments.get_segments()[1][:, 1], [0.1 - math.sqrt(0.02), 0.1 + math.sqrt(0.02)])
    dashed = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 2 and ax.get_xscale() == "log"
    np.testing.assert_allclose(dashed[0].get_ydata(), [0.975, 0.105])  # he_datadep: the table is sorted by method
    np.testing.assert_allclose(dashed[1].get_ydata(), [0.955, 0.93])


def test_report_writes_the_figures_and_tables(recorded, tmp_path):
    paths = [*recorded["depth"], *recorded["lr"], *recorded["hessian"]]
    out = tmp_path / "report"
    lines = []
    written = report.write_weightnorm_report(paths, str(out), lines.append)
    names = [report.CURVES_FILE, report.DEPTH_FILE, report.LR_FILE, report.SUMMARY_FILE, report.DEPTH_TABLE,
             report.LR_TABLE, report.HESSIAN_TABLE]
    assert written == [str(out / name) for name in names] and sorted(os.listdir(out)) == sorted(names)
    for name in names[:3]:
        assert imread(out / name)[..., :3].std() > 0.05, name  # drawn, not a blank canvas
    summary = pd.read_csv(out / report.SUMMARY_FILE)
    assert len(summary) == len(paths) and summary["reached"].isna().sum() == 10 + 2 + 3  # depth runs (2 epochs), LR runs, --hessian
    depth = pd.read_csv(out / report.DEPTH_TABLE)
    assert set(depth["nn"]) == {"mlp", "wrn"}  # the LR runs are finished runs at depth 10 too
    assert pd.read_csv(out / report.HESSIAN_TABLE)["runs"].tolist() == [1, 2]
    text = "\n".join(lines)
    assert "25 runs: 15 done, 7 diverged, 2 interrupted, 1 running" in text
    assert ("left out of the depth table: 1 running (mnist/mlp-100x128-he_proposed-wn-seed3), 2 interrupted "
            "(mnist/mlp-100x128-he_datadep-wn-seed3, lr0.1/wrn-10-2-orthogonal_proposed-wn-seed4)") in text
    assert "left out of the LR table: 11 trained fewer than 3 epochs, 1 interrupted before epoch 3 (lr0.1/" in text
    assert sum(line.startswith("wrote ") for line in lines) == len(names)


def test_one_run_writes_curves_and_tables_without_robustness_figures(tmp_path):
    path = write_run(tmp_path, val_acc=[0.5, 0.6, 0.7], test_acc=0.72, **MLP)
    out = tmp_path / "out"
    lines = []
    report.write_weightnorm_report([path], str(out), lines.append)
    assert sorted(os.listdir(out)) == sorted([report.CURVES_FILE, report.SUMMARY_FILE, report.DEPTH_TABLE, report.LR_TABLE])
    assert "mlp-2x128-orthogonal_proposed-wn-seed1" in "\n".join(lines)  # the runs are printed
    ax = Figure().add_subplot()
    plots.plot_curves(frames.curves(frames.history(frames.load_weightnorm_runs([path]), summary_of([path])), "run"), ax)
    solid, dashed = ax.get_lines()[:2]
    np.testing.assert_allclose(solid.get_ydata(), [0.5, 0.6, 0.7])
    np.testing.assert_allclose(dashed.get_ydata(), [0.51, 0.61, 0.71])
    assert dashed.get_linestyle() == "--"


def rewrite_json(name, **changes):
    def damage(path):
        with open(os.path.join(path, name)) as f:
            value = json.load(f)
        with open(os.path.join(path, name), "w") as f:
            json.dump({**value, **changes}, f)
    return damage


def write_foreign_config(path):
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"study": "diversity", "activation": "sin"}, f)


def drop_depth_field(path):
    with open(os.path.join(path, "config.json")) as f:
        config = json.load(f)
    del config["num_layers"]
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)


# case: (damage to the last run, what the one-line error must say)
BAD_INPUTS = {
    "not a weightnorm run": (write_foreign_config, "not a weightnorm-study run"),
    "config without a depth field": (drop_depth_field, "config.json lacks num_layers"),
    "no status.json": (lambda path: os.remove(os.path.join(path, "status.json")), "has no status.json"),
    "unknown state": (rewrite_json("status.json", state="finished"), "has state 'finished'"),
    "done without results": (lambda path: os.remove(os.path.join(path, "results.json")), "has no results.json"),
    "results not a number": (rewrite_json("results.json", test_acc="high"), "test_acc is 'high', not a number"),
    "truncated history.h5": (lambda path: open(os.path.join(path, "history.h5"), "wb").write(b"\x89HDF"), "not a readable HDF5"),
    "broken results.json": (lambda path: open(os.path.join(path, "results.json"), "w").write("{"), "cannot read"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, case):
    damage, message = BAD_INPUTS[case]
    good = write_run(tmp_path, val_acc=[0.5], test_acc=0.5, seed=1, **MLP)
    bad = write_run(tmp_path, val_acc=[0.5], test_acc=0.5, seed=2, **MLP)
    damage(bad)
    out = tmp_path / "out"
    with pytest.raises(UsageError) as caught:
        report.write_weightnorm_report([good, bad], str(out), lambda line: None)
    text = str(caught.value)
    assert "\n" not in text and message in text and os.path.basename(bad) in text, text
    assert not out.exists()


def test_missing_directory_and_bad_reach_epoch_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="is not a directory"):
        report.write_weightnorm_report([str(tmp_path / "nothing")], str(tmp_path / "out"), lambda line: None)
    path = write_run(tmp_path, val_acc=[0.5], test_acc=0.5, **MLP)
    with pytest.raises(UsageError, match="must be >= 1"):
        report.write_weightnorm_report([path], str(tmp_path / "out"), lambda line: None, reach_epoch=0)
    assert not (tmp_path / "out").exists()
