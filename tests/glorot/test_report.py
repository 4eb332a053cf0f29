"""`experiment.py analyze`: frames agree with the recorded arrays, figures and summary are written,
and every bad input is one stderr line, exit code != 0 and no output."""

import json
import os
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest

from lib.cli import main
from lib.studies.glorot import frames
from lib.studies.glorot.report import FIGURES, SUMMARY_FILE
from tests.helpers import run_script

HIDDEN_LAYERS, UNITS, EPOCHS = 4, 48, 2
LAYERS = range(1, HIDDEN_LAYERS + 1)


@pytest.fixture(scope="session")
def runs(tmp_path_factory):
    """Two tiny tanh runs, standard and normalized init (the paper's Figs. 6-9 pair), and one without records."""
    output = tmp_path_factory.mktemp("runs")
    common = ["--activation", "tanh", "--hidden_layers", str(HIDDEN_LAYERS), "--units", str(UNITS),
              "--steps_per_epoch", "30", "--lr", "0.05", "--output_dir", str(output)]
    assert main([*common, "--epochs", str(EPOCHS), "--name", "standard"]) == 0
    assert main([*common, "--epochs", str(EPOCHS), "--xavier", "--name", "normalized"]) == 0
    assert main([*common, "--epochs", "1", "--record_every", "0", "--name", "unrecorded"]) == 0
    return {name: str(output / "shapeset" / name) for name in ("standard", "normalized", "unrecorded")}


@pytest.fixture(scope="session")
def loaded(runs):
    return frames.load_runs([runs["standard"], runs["normalized"]])


def recorded(run, kind, epoch, key):
    """An array straight from the record file with h5py, bypassing lib.storage.epoch_table."""
    with h5py.File(os.path.join(run, kind + ".h5"), "r") as f:
        return np.asarray(f[f"epoch{epoch}"][key])


def test_analyze_writes_every_figure_and_the_summary(runs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["analyze", runs["standard"], runs["normalized"], "--out", str(out), "--jacobian_examples", "20"]) == 0
    printed = capsys.readouterr().out
    for name, *_ in FIGURES:
        assert (out / name).stat().st_size > 20_000, name  # a drawn figure, not an empty canvas
        assert f"wrote {out / name}" in printed
    assert sorted(os.listdir(out)) == sorted([name for name, *_ in FIGURES] + [SUMMARY_FILE])
    summary = pd.read_csv(out / SUMMARY_FILE)
    assert list(zip(summary["run"], summary["layer"])) == [(run, layer) for run in ("standard", "normalized")
                                                           for layer in LAYERS]
    assert summary.notna().all().all()
    assert "jacobian_mean_singular_value" in printed  # the aligned text table


def test_one_run_reports_into_its_own_directory(runs, tmp_path):
    run = tmp_path / "normalized"
    shutil.copytree(runs["normalized"], run)
    assert main(["analyze", str(run), "--jacobian_examples", "5"]) == 0
    assert sorted(os.listdir(run / "report")) == sorted([name for name, *_ in FIGURES] + [SUMMARY_FILE])


def test_frames_have_one_row_per_run_epoch_and_hidden_layer(loaded):
    expected = {(run, epoch, layer) for run in ("standard", "normalized") for epoch in range(EPOCHS + 1) for layer in LAYERS}
    for frame in (frames.activation_stats(loaded), frames.weight_gradient_spread(loaded)):
        keys = list(zip(frame["run"], frame["epoch"], frame["layer"]))
        assert len(keys) == len(expected) and set(keys) == expected
    jacobians = frames.jacobian_singular_values(loaded, examples=7)
    assert list(zip(jacobians["run"], jacobians["layer"])) == [(run, layer) for run in ("standard", "normalized")
                                                               for layer in LAYERS]
    assert (jacobians["examples"] == 7).all()


def test_activation_stats_match_the_recorded_arrays(runs, loaded):
    stats = frames.activation_stats(loaded).set_index(["run", "epoch", "layer"])
    for run in ("standard", "normalized"):
        for epoch in range(EPOCHS + 1):
            for layer in LAYERS:
                z = recorded(runs[run], "activations", epoch, f"dense_{layer}")
                row = stats.loc[(run, epoch, layer)]
                np.testing.assert_allclose([row["mean"], row["std"], row["p98"]],
                                           [z.mean(), z.std(), np.percentile(z, 98)], rtol=1e-5, atol=1e-7)


def test_weight_gradient_spread_matches_the_recorded_kernels(runs, loaded):
    spread = frames.weight_gradient_spread(loaded).set_index(["run", "epoch", "layer"])
    for layer in LAYERS:
        grad = recorded(runs["standard"], "gradients", EPOCHS, f"dense_{layer}_kernel")
        assert spread.loc[("standard", EPOCHS, layer), "std"] == pytest.approx(grad.std(), rel=1e-5)


@pytest.mark.parametrize("kind", list(frames.HISTOGRAM_SOURCES))
def test_histograms_are_normalized(loaded, kind):
    table = frames.histograms(loaded, kind, 0, bins=40)
    for (run, layer), rows in table.groupby(["run", "layer"]):
        assert len(rows) == 40
        mass = (rows["density"] * (rows["right"] - rows["left"])).sum()
        assert mass == pytest.approx(1.0, abs=1e-9), (run, layer)
        assert rows["inside"].iloc[0] > 0.98
    assert set(table["run"]) == {"standard", "normalized"} and set(table["layer"]) == set(LAYERS)


def test_histogram_counts_match_numpy(runs, loaded):
    table = frames.histograms(loaded, "activations", EPOCHS, bins=30)
    rows = table[(table["run"] == "normalized") & (table["layer"] == 2)]
    z = recorded(runs["normalized"], "activations", EPOCHS, "dense_2").ravel()
    edges = np.append(rows["left"].to_numpy(), rows["right"].iloc[-1])
    density, _ = np.histogram(z, bins=edges, density=True)
    np.testing.assert_allclose(rows["density"], density, rtol=1e-9)
    assert rows["inside"].iloc[0] == 1.0  # activations keep their full range


def test_error_curves_are_the_test_error_of_history(runs, loaded):
    curves = frames.error_curves(loaded)
    for run in ("standard", "normalized"):
        with h5py.File(os.path.join(runs[run], "history.h5"), "r") as f:
            test_acc = np.asarray(f["test_acc"])
        rows = curves[curves["run"] == run]
        assert list(rows["epoch"]) == list(range(1, EPOCHS + 1)) and set(rows["split"]) == {"test"}
        np.testing.assert_allclose(rows["error"], 100.0 * (1.0 - test_acc))
        results = json.loads(open(os.path.join(runs[run], "results.json")).read())
        assert rows["error"].iloc[-1] == pytest.approx(results["test_error_percent"], abs=1e-4)


def test_jacobian_singular_values_match_a_direct_svd(runs, loaded):
    """Eq. 17: J = W diag(tanh'(s_n)) per example, its singular values by SVD from the recorded arrays."""
    jacobians = frames.jacobian_singular_values(loaded, examples=5).set_index(["run", "layer"])
    for run in ("standard", "normalized"):
        for layer in (1, HIDDEN_LAYERS):
            kernel = recorded(runs[run], "weights", 0, f"dense_{layer}_kernel").astype(np.float64)
            s = recorded(runs[run], "preactivations", 0, f"dense_{layer}")[:5].astype(np.float64)
            direct = [np.linalg.svd(kernel * (1 - np.tanh(row) ** 2), compute_uv=False).mean() for row in s]
            assert jacobians.loc[(run, layer), "mean_singular_value"] == pytest.approx(np.mean(direct), rel=1e-6)


def test_error_curves_fall_back_to_validation_error(runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs["standard"], run)
    with h5py.File(run / "history.h5", "a") as f:
        del f["test_acc"], f["test_loss"]
        val_acc = np.asarray(f["val_acc"])
    curves = frames.error_curves(frames.load_runs([str(run)]))
    assert set(curves["split"]) == {"validation"}
    np.testing.assert_allclose(curves["error"], 100.0 * (1.0 - val_acc))


def test_initialization_statistics_show_the_papers_contrast(loaded):
    """Fig. 6 and §4.2.2 at init: standard init shrinks activations with depth and its Jacobians'
    mean singular value is near 0.5; normalized init keeps it near 0.8 (layers 2.. are square)."""
    summary = frames.summary(loaded, examples=20).set_index(["run", "layer"])
    standard_std = [summary.loc[("standard", layer), "activation_std"] for layer in LAYERS]
    assert all(np.diff(standard_std) < 0) and standard_std[-1] < 0.25 * standard_std[0]
    normalized_std = [summary.loc[("normalized", layer), "activation_std"] for layer in LAYERS]
    assert normalized_std[-1] > 0.5 * normalized_std[0]
    for layer in LAYERS[1:]:
        assert 0.4 < summary.loc[("standard", layer), "jacobian_mean_singular_value"] < 0.6
        assert 0.65 < summary.loc[("normalized", layer), "jacobian_mean_singular_value"] < 0.95


def truncate(path, size):
    path.write_bytes(path.read_bytes()[:size])


def replace_with_foreign_h5(path):
    path.unlink()
    with h5py.File(path, "w") as f:
        f["epoch0/dense_1_kernel"] = np.zeros((2, 2))  # the layout, but no initlab `kind` attribute


# case: (file of a copied run, how it is damaged, what the error must name)
DAMAGED_RUNS = {
    "missing h5": ("activations.h5", lambda path: path.unlink(), "activations.h5 does not exist"),
    "empty h5": ("gradients.h5", lambda path: truncate(path, 0), "gradients.h5"),
    "empty history": ("history.h5", lambda path: truncate(path, 0), "history.h5"),
    "truncated index": ("preactivations.h5", lambda path: truncate(path, 100), "preactivations.h5"),
    "truncated record": ("records/epoch1.h5", lambda path: truncate(path, 100), "epoch1"),
    "foreign h5": ("weights.h5", replace_with_foreign_h5, "not an initlab weights file"),
    "config of another study": ("config.json", lambda path: path.write_text('{"layers": 3}'), "not a glorot run"),
    "not a run directory": ("config.json", lambda path: path.unlink(), "no config.json"),
}


def assert_one_line_and_nothing_written(argv, capsys, message, watched):
    before = {folder: sorted(os.listdir(folder)) for folder in watched if os.path.isdir(folder)}
    code = main(argv)
    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1 and message in err, err
    assert {folder: sorted(os.listdir(folder)) for folder in watched if os.path.isdir(folder)} == before


@pytest.mark.parametrize("case", list(DAMAGED_RUNS))
def test_damaged_run_is_one_line_and_writes_nothing(runs, tmp_path, capsys, case):
    name, damage, message = DAMAGED_RUNS[case]
    run = tmp_path / "run"
    shutil.copytree(runs["standard"], run)
    damage(run / name)
    out = tmp_path / "out"
    assert_one_line_and_nothing_written(["analyze", str(run), "--out", str(out)], capsys, message, [run, tmp_path])
    assert_one_line_and_nothing_written(["analyze", str(run)], capsys, message, [run, tmp_path])  # default out: run/report


def test_missing_path_is_one_line(tmp_path, capsys):
    assert_one_line_and_nothing_written(["analyze", str(tmp_path / "absent"), "--out", str(tmp_path / "out")], capsys,
                                        "not a directory", [tmp_path])


def test_run_without_records_says_so(runs, tmp_path, capsys):
    assert main(["analyze", runs["standard"], runs["unrecorded"], "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--record_every 0" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv", [[], ["--epoch", "7"], ["--jacobian_examples", "0"], ["--bins", "3"]],
                         ids=["no run", "epoch not recorded", "no examples", "unknown flag"])
def test_bad_analyze_flags(runs, tmp_path, capsys, argv):
    run_dirs = [runs["standard"]] if argv else []
    assert main(["analyze", *run_dirs, *argv, "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_analyze_never_starts_tensorflow(runs, tmp_path):
    """Through the real entry point: the error is the only stderr line (no TensorFlow start-up notices)."""
    result = run_script("cli_imports.py", "analyze", runs["unrecorded"], "--out", str(tmp_path / "out"), timeout=120)
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"code": 2, "keras": False, "tensorflow": False}
    assert result.stderr.count("\n") == 1 and "--record_every 0" in result.stderr
