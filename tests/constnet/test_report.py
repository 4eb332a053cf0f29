"""Correlation report of the constnet study: frames agree with the recorded correlations,
the figures and the summary are written, and every bad input is one UsageError line with
no output written."""

import json
import os

import h5py
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from lib.analysis.files import DPI
from lib.errors import UsageError
from lib.storage.epoch_table import EpochTableWriter
from lib.studies.constnet import frames, plots
from lib.studies.constnet.report import CORRELATIONS_FILE, LAYER_PANEL_SIZE, LAYERS_FILE, PANEL_SIZE, SUMMARY_FILE, write_correlation_report

# A WRN-10-like layout, written in a scrambled order: the frames must put it in network order.
WEIGHT_LAYERS = ["conv1"] + [f"group{g}_block0_conv{c}" for g in (1, 2, 3) for c in (1, 2)] \
    + [f"group{g}_block0_shortcut" for g in (1, 2, 3)] + ["logits"]
BLOCKS = [f"group{g}_block0_out" for g in (1, 2, 3)]
EPOCHS = 4
VARNET_ACC = [0.42, 0.61, 0.58, 0.66]
CONSTNET_ACC = [0.10, 0.12, 0.11, 0.13]


def varnet_rho(layer_index: int, epoch: int) -> float:
    """Random init: small correlations that shrink further with training, one per layer."""
    return 0.02 * (layer_index + 1) * 0.5 ** epoch


def write_run(root, name, *, correlations, accuracy, config=None):
    """A constnet-study run directory written with the real writer; correlations: one dict per measured epoch."""
    path = root / name
    path.mkdir(parents=True)
    config = {"arch": "constnet", "init": None, "layers": 10, "widen_factor": 1, "droprate": 0.0, "varnet": False,
              "deterministic": False, "dataset": "cifar10", "epochs": len(accuracy), "name": name, **(config or {})}
    (path / "config.json").write_text(json.dumps(config))
    writer = EpochTableWriter(str(path / "correlations.h5"), config_json=json.dumps(config), kind="correlations")
    for row in correlations:
        writer.append(row)
    writer.close()
    history = EpochTableWriter(str(path / "history.h5"), config_json=json.dumps(config), kind="history")
    for acc in accuracy:
        history.append({"loss": 2.0 - acc, "acc": acc, "val_loss": 2.1 - acc, "val_acc": acc})
    history.close()
    return str(path)


def varnet_rows():
    rows = []
    for epoch in range(EPOCHS + 1):
        row = {"epoch": epoch}
        for index, layer in enumerate(reversed(WEIGHT_LAYERS)):
            row[f"forward/{layer}"] = varnet_rho(index, epoch)
            row[f"backward/{layer}"] = -varnet_rho(index, epoch)  # negative: -ln|rho| takes the magnitude
            row[f"kernels/{layer}"] = np.nan if "conv" not in layer else 0.1
        for index, block in enumerate(BLOCKS):
            row[f"activations/{block}"] = np.nan if index == 2 else 0.3 * 0.8 ** epoch  # block 3 not measured
        row["diversity"] = sum(0.5 * np.log(1 - row[f"backward/{layer}"] ** 2) for layer in WEIGHT_LAYERS)
        rows.append(row)
    return rows


def identical_rows():
    """ConstNet without symmetry breaking: every channel identical at every epoch."""
    rows = []
    for epoch in range(EPOCHS + 1):
        row = {"epoch": epoch, "diversity": -np.inf}
        row.update({f"{measure}/{layer}": 1.0 for measure in ("forward", "backward", "kernels")
                    for layer in WEIGHT_LAYERS})
        row.update({f"activations/{block}": 1.0 for block in BLOCKS})
        rows.append(row)
    return rows


@pytest.fixture
def run_dirs(tmp_path):
    return {"varnet": write_run(tmp_path / "cifar10", "constnet_he", correlations=varnet_rows(), accuracy=VARNET_ACC,
                                config={"varnet": True}),
            "deterministic": write_run(tmp_path / "cifar10", "constnet_deterministic", correlations=identical_rows(),
                                       accuracy=CONSTNET_ACC, config={"deterministic": True})}


@pytest.fixture
def built(run_dirs):
    runs = frames.load_constnet_runs([run_dirs["varnet"], run_dirs["deterministic"]])
    layers = frames.layer_correlations(runs)
    means = frames.mean_over_layers(layers)
    diversity, accuracy = frames.diversity_curves(runs), frames.accuracy_curves(runs)
    return {"layers": layers, "means": means, "diversity": diversity, "accuracy": accuracy,
            "summary": frames.summary(runs, means, diversity, accuracy).set_index("run")}


def test_minus_log_rho_is_the_references_form():
    np.testing.assert_array_equal(frames.minus_log_abs([1.0, -1.0, 0.0, np.nan]), [0.0, 0.0, np.inf, np.nan])
    assert frames.minus_log_abs(-np.exp(-2.5)) == pytest.approx(2.5)
    assert np.signbit(frames.minus_log_abs(1.0)) == False  # noqa: E712 (0.0, not -0.0)


def test_layers_are_in_network_order(built):
    rows = built["layers"]
    rows = rows[(rows["run"] == "constnet_he") & (rows["epoch"] == 0) & (rows["measure"] == "forward")]
    assert list(rows.sort_values("position")["layer"]) == WEIGHT_LAYERS
    assert sorted(["group10_block0_conv1", "group2_block0_conv1", "logits", "conv1"], key=frames.network_order) \
        == ["conv1", "group2_block0_conv1", "group10_block0_conv1", "logits"]


def test_layer_frame_is_tidy_and_matches_the_file(built):
    layers = built["layers"].set_index(["run", "epoch", "measure", "layer"])
    assert layers.index.is_unique
    assert len(layers) == 2 * (EPOCHS + 1) * (3 * len(WEIGHT_LAYERS) + len(BLOCKS))
    index = list(reversed(WEIGHT_LAYERS)).index("group2_block0_conv1")
    row = layers.loc[("constnet_he", 3, "backward", "group2_block0_conv1")]
    assert row["rho"] == pytest.approx(-varnet_rho(index, 3))
    assert row["minus_log_rho"] == pytest.approx(-np.log(varnet_rho(index, 3)))
    assert (built["layers"].query("run == 'constnet_deterministic'")["minus_log_rho"] == 0.0).all()


def test_means_over_layers_skip_unmeasured_layers(built):
    means = built["means"].set_index(["run", "epoch", "measure"])
    for epoch in range(EPOCHS + 1):
        expected = np.mean([-np.log(varnet_rho(index, epoch)) for index in range(len(WEIGHT_LAYERS))])
        assert means.loc[("constnet_he", epoch, "forward"), "minus_log_rho"] == pytest.approx(expected)
        assert means.loc[("constnet_he", epoch, "backward"), "minus_log_rho"] == pytest.approx(expected)
        activations = means.loc[("constnet_he", epoch, "activations")]
        assert activations["minus_log_rho"] == pytest.approx(-np.log(0.3 * 0.8 ** epoch))  # the NaN block is left out
        assert activations["layers"] == 2
        assert means.loc[("constnet_he", epoch, "kernels"), "layers"] == 7  # 1x1 shortcut and logits kernels are NaN
    assert (built["means"].query("run == 'constnet_deterministic'")["minus_log_rho"] == 0.0).all()


def test_summary_has_accuracy_and_init_and_end_values(built):
    summary = built["summary"]
    varnet, constnet = summary.loc["constnet_he"], summary.loc["constnet_deterministic"]
    assert varnet["best_test_acc"] == pytest.approx(66.0) and varnet["final_test_acc"] == pytest.approx(66.0)
    assert constnet["best_test_acc"] == pytest.approx(13.0) and constnet["epochs"] == EPOCHS
    assert summary.loc["constnet_he", "forward_init"] < summary.loc["constnet_he", "forward_end"]
    expected_end = np.mean([-np.log(varnet_rho(index, EPOCHS)) for index in range(len(WEIGHT_LAYERS))])
    assert varnet["forward_end"] == pytest.approx(expected_end)
    assert varnet["diversity_init"] == pytest.approx(varnet_rows()[0]["diversity"]) and varnet["diversity_init"] < 0
    assert constnet["diversity_init"] == -np.inf and constnet["diversity_end"] == -np.inf
    assert constnet["activations_end"] == 0.0 and varnet["end_epoch"] == EPOCHS


def test_best_and_final_accuracy_differ_when_the_last_epoch_is_not_the_best(tmp_path):
    run = write_run(tmp_path, "dropping", correlations=varnet_rows(), accuracy=[0.5, 0.7, 0.6])
    report = frames.load_constnet_runs([run])
    accuracy = frames.accuracy_curves(report)
    assert list(accuracy["epoch"]) == [1, 2, 3]
    layers = frames.layer_correlations(report)
    row = frames.summary(report, frames.mean_over_layers(layers), frames.diversity_curves(report), accuracy).iloc[0]
    assert (row["best_test_acc"], row["final_test_acc"]) == (pytest.approx(70.0), pytest.approx(60.0))


def test_several_runs_share_the_correlation_panels(built):
    figure = Figure()
    ax = figure.add_subplot()
    means = built["means"]
    plots.plot_mean_correlation(means[means["measure"] == "forward"], ax)
    assert ax.get_legend_handles_labels()[1] == ["constnet_he", "constnet_deterministic"]
    ax = figure.add_subplot()
    plots.plot_diversity(built["diversity"], ax)
    assert ax.get_legend_handles_labels()[1] == ["constnet_he", "constnet_deterministic"]
    # The deterministic run's -inf Diversity is marked on the bottom edge, one triangle per epoch.
    edge = [line for line in ax.get_lines() if line.get_marker() == "v"]
    assert len(edge) == 1 and list(edge[0].get_xdata()) == list(range(EPOCHS + 1))
    assert len(set(edge[0].get_ydata())) == 1 and edge[0].get_ydata()[0] < 0.1  # axes fraction: the bottom edge
    assert "−∞, some layer has identical channels" in ax.get_title()


def test_uncorrelated_layer_is_marked_not_dropped(built):
    layers = built["layers"]
    rows = layers[(layers["run"] == "constnet_he") & (layers["measure"] == "forward")].copy()
    rows.loc[(rows["epoch"] == EPOCHS) & (rows["layer"] == "logits"), ["rho", "minus_log_rho"]] = [0.0, np.inf]
    ax = Figure().add_subplot()
    plots.plot_layer_profile(rows, ax)
    top = [line for line in ax.get_lines() if line.get_marker() == "^"]
    assert len(top) == 1 and list(top[0].get_xdata()) == [WEIGHT_LAYERS.index("logits")]
    assert ax.get_legend_handles_labels()[1] == ["initialization", f"epoch {EPOCHS} (last)"]


def test_report_writes_figures_and_summary(run_dirs, tmp_path):
    out = tmp_path / "report"
    lines = []
    written = write_correlation_report([run_dirs["varnet"], run_dirs["deterministic"]], str(out), progress=lines.append)
    assert sorted(os.listdir(out)) == sorted([CORRELATIONS_FILE, LAYERS_FILE, SUMMARY_FILE])
    assert written == [str(out / name) for name in (CORRELATIONS_FILE, LAYERS_FILE, SUMMARY_FILE)]
    expected_shapes = {CORRELATIONS_FILE: (2 * PANEL_SIZE[1], 3 * PANEL_SIZE[0]),  # 2 x 3 panels
                       LAYERS_FILE: (2 * LAYER_PANEL_SIZE[1], 2 * LAYER_PANEL_SIZE[0])}  # 2 runs side by side
    for name, (height, width) in expected_shapes.items():
        assert (out / name).stat().st_size > 50_000, name  # drawn curves, not an empty canvas
        image = imread(out / name)
        assert image.shape[:2] == (round(height * DPI), round(width * DPI)), name
        assert image[..., :3].std() > 0.05, name
    summary = pd.read_csv(out / SUMMARY_FILE)
    assert list(summary["run"]) == ["constnet_he", "constnet_deterministic"]
    assert summary["diversity_end"].iloc[1] == -np.inf
    printed = "\n".join(lines)
    assert "best_test_acc" in printed and f"wrote {out / SUMMARY_FILE}" in printed


def test_one_run_reports_into_its_own_directory(run_dirs):
    write_correlation_report([run_dirs["deterministic"]], progress=lambda line: None)
    assert sorted(os.listdir(os.path.join(run_dirs["deterministic"], "report"))) == sorted(
        [CORRELATIONS_FILE, LAYERS_FILE, SUMMARY_FILE])


def test_repeated_run_names_are_told_apart(tmp_path):
    first = write_run(tmp_path / "cifar10", "constnet", correlations=identical_rows(), accuracy=CONSTNET_ACC)
    second = write_run(tmp_path / "cifar100", "constnet", correlations=varnet_rows(), accuracy=VARNET_ACC)
    labels = [run.label for run in frames.load_constnet_runs([first, second])]
    assert labels == ["cifar10/constnet", "cifar100/constnet"]
    with pytest.raises(UsageError, match="more than once"):
        frames.load_constnet_runs([first, first])


def truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


def write_foreign(path):
    path.unlink()
    with h5py.File(path, "w") as f:
        f.attrs["kind"] = "gradients"
        f["forward/conv1"] = np.ones(3)


def write_without_rows(path):
    EpochTableWriter(str(path), kind="correlations").close()


def write_logged_values(path):
    """-ln|rho| written where the raw rho belongs."""
    writer = EpochTableWriter(str(path), kind="correlations")
    writer.append({"epoch": 0, "diversity": -1.0, "forward/conv1": 4.6})
    writer.close()


# case: (file of the run, how it is damaged, what the one-line error must say)
DAMAGED_RUNS = {
    "not a run directory": ("config.json", lambda path: path.unlink(), "no config.json"),
    "glorot run": ("config.json", lambda path: path.write_text('{"activation": "tanh", "init": "standard"}'),
                   "not a constnet-study run"),
    "unreadable config": ("config.json", lambda path: path.write_text("{arch"), "cannot read"),
    "missing correlations": ("correlations.h5", lambda path: path.unlink(), "correlations.h5 does not exist"),
    "empty file": ("correlations.h5", lambda path: truncate(path, 0), "not a readable HDF5 file"),
    "truncated": ("correlations.h5", lambda path: truncate(path, path.stat().st_size // 2), "correlations.h5"),
    "no rows": ("correlations.h5", write_without_rows, "holds no complete measurement"),
    "foreign h5": ("correlations.h5", write_foreign, "not an initlab correlations file"),
    "logged, not raw": ("correlations.h5", write_logged_values, "outside [-1, 1]"),
    "missing history": ("history.h5", lambda path: path.unlink(), "history.h5 does not exist"),
}


@pytest.mark.parametrize("case", list(DAMAGED_RUNS))
def test_damaged_run_is_one_line_and_writes_nothing(run_dirs, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)  # the default out of several runs is ./report
    name, damage, message = DAMAGED_RUNS[case]
    damaged = run_dirs["deterministic"]
    damage(tmp_path / "cifar10" / "constnet_deterministic" / name)
    out = tmp_path / "out"
    for out_argument in (str(out), None):  # None: the default, <run>/report
        with pytest.raises(UsageError) as caught:
            write_correlation_report([run_dirs["varnet"], damaged], out_argument, progress=lambda line: None)
        text = str(caught.value)
        assert "\n" not in text and message in text and "constnet_deterministic" in text, text
    assert not out.exists() and not (tmp_path / "report").exists()
    for run in run_dirs.values():
        assert not os.path.exists(os.path.join(run, "report"))


def test_missing_path_is_one_line(tmp_path):
    with pytest.raises(UsageError, match="is not a directory") as caught:
        write_correlation_report([str(tmp_path / "absent")], str(tmp_path / "out"))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out").exists()
