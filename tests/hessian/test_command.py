"""`experiment.py hessian RUN_DIR` end to end on a glorot and a constnet run (BatchNorm in inference mode),
`--epoch 0` against the run's own initial model, `--hessian_every`, analyze's Hessian section, and every
bad input as one line, exit code 2, nothing written."""

import json
import os
import shutil

import h5py
import keras
import numpy as np
import pytest

from lib.backend.hessian_vector import HessianVectorProduct
from lib.cli import main
from lib.hessian import files
from lib.hessian.analysis import EXACT_LIMIT
from lib.storage.epoch_table import read_epoch_table
from lib.studies import config_of_run
from lib.studies.glorot.config import GlorotConfig

GLOROT = ["--dataset", "mnist1d", "--hidden_layers", "2", "--units", "12", "--steps_per_epoch", "20",
          "--record_every", "2", "--probe_size", "20", "--lr", "0.05", "--seed", "4"]
GLOROT_PARAMETERS = 40 * 12 + 12 + 12 * 12 + 12 + 12 * 10 + 10
CONSTNET = ["constnet", "--layers", "7", "--widen-factor", "1", "--batchnorm", "--dataset", "digits", "--epochs", "1",
            "--steps_per_epoch", "5", "--no-saves"]


@pytest.fixture(scope="module")
def glorot_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs")
    assert main([*GLOROT, "--epochs", "2", "--hessian_every", "1", "--output_dir", str(output), "--name", "g"]) == 0
    return output / "mnist1d" / "g"


def read_config(run):
    return config_of_run(str(run), json.loads((run / "config.json").read_text()), "analysed")


def test_glorot_run_end_to_end(glorot_run, capsys):
    assert main(["hessian", str(glorot_run), "--top_k", "3", "--exact", "--per_layer", "--probes", "2"]) == 0
    out = capsys.readouterr().out
    assert "top eigenvalues:" in out and "exact: top" in out
    record = files.read(str(glorot_run), "epoch2_test")
    assert (record.epoch, record.split, record.examples) == (2, "test", 200)
    whole = record.whole
    assert whole.size == GLOROT_PARAMETERS and len(whole.exact_eigenvalues) == GLOROT_PARAMETERS
    by_magnitude = whole.exact_eigenvalues[np.argsort(-np.abs(whole.exact_eigenvalues))][:3]
    np.testing.assert_allclose(whole.eigenvalues, by_magnitude, rtol=1e-3)
    assert [s.size for s in record.spectra[1:]] == [40 * 12 + 12, 12 * 12 + 12, 12 * 10 + 10]  # kernel + bias per layer
    assert whole.ritz_values.shape == (2, 100) and whole.ritz_weights.shape == (2, 100)
    assert (glorot_run / "hessian" / "epoch2_test.png").stat().st_size > 0
    summary = (glorot_run / "hessian" / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("label,epoch,split") and summary[1].startswith("epoch2_test,2,test,200,")
    # --hessian_every's row after epoch 2 was measured on the same weights and examples: the exact top eigenvalue
    history = read_epoch_table(str(glorot_run / "hessian_history.h5"))
    assert list(history["epoch"]) == [0, 1, 2]
    assert history["top_eigenvalue"][2] == pytest.approx(by_magnitude[0], rel=1e-3)
    assert abs(history["trace"][2] - np.sum(whole.exact_eigenvalues)) <= 3 * history["trace_standard_error"][2]


def test_epoch_zero_is_the_runs_initial_model(glorot_run):
    """--epoch 0 rebuilds the initialization from the run's seed: the weights the run started from
    (captured by a callback at train begin of the same training code), bit for bit."""
    from lib.studies.glorot.hessian import hessian_subject
    from lib.studies.glorot.run import load_data, train

    _, config = read_config(glorot_run)

    class Capture(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.weights = [np.array(w) for w in self.model.get_weights()]

    capture = Capture()
    config, splits = load_data(config)
    train(config, splits, verbose=0, extra_callbacks=[capture])
    subject = hessian_subject(str(glorot_run), config, epoch=0, split="test", count=200)
    assert subject.epoch == 0
    rebuilt = subject.model.get_weights()
    assert len(rebuilt) == len(capture.weights)
    assert all(np.array_equal(a, b) for a, b in zip(rebuilt, capture.weights, strict=True))
    trained = hessian_subject(str(glorot_run), config, epoch=None, split="test", count=200).model.get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(trained, capture.weights, strict=True))
    assert main(["hessian", str(glorot_run), "--epoch", "0", "--split", "train", "--batches", "2", "--batch_size", "50"]) == 0
    record = files.read(str(glorot_run), "epoch0_train")
    assert (record.epoch, record.examples) == (0, 100)
    history = read_epoch_table(str(glorot_run / "hessian_history.h5"))
    assert np.isfinite(history["top_eigenvalue"][0]) and history["trace_samples"][0] >= 20


def test_constnet_run_with_batchnorm_in_inference_mode(tmp_path, capsys):
    output = tmp_path / "runs"
    assert main([*CONSTNET, "--output_dir", str(output), "--name", "c"]) == 0
    run = output / "digits" / "c"
    assert main(["hessian", str(run), "--batch_size", "60", "--max_iterations", "20", "--lanczos_steps", "20",
                 "--trace_iterations", "20"]) == 0
    record = files.read(str(run), "epoch1_test")
    assert record.whole.eigenvalues[0] > 0 and np.all(np.isfinite(record.whole.ritz_values))
    # Inference-mode BatchNorm makes the loss a mean over examples, so H over 60 examples equals the
    # size-weighted mean of H over 20 + 40 (in training mode the batch statistics couple examples).
    from lib.studies.constnet.hessian import hessian_subject

    _, config = read_config(run)
    subject = hessian_subject(str(run), config, epoch=None, split="test", count=60)
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in subject.model.layers)
    assert record.whole.size == sum(int(np.prod(v.shape)) for v in subject.model.trainable_variables)
    x, y = subject.data.x, subject.data.y
    whole = HessianVectorProduct(subject.model, subject.loss, [(x, y)])
    parts = HessianVectorProduct(subject.model, subject.loss, [(x[:20], y[:20]), (x[20:], y[20:])])
    v = np.random.default_rng(0).standard_normal(whole.parameters.size)
    np.testing.assert_allclose(parts(v), whole(v), rtol=1e-4, atol=1e-5 * np.abs(whole(v)).max())


def test_analyze_draws_the_hessian_of_several_runs_side_by_side(glorot_run, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(glorot_run, other)
    assert main(["analyze", str(glorot_run), str(other), "--out", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    for name in ("hessian_density.png", "hessian_top_eigenvalues.png", "hessian_summary.csv", "hessian_sharpness.png"):
        assert (tmp_path / "report" / name).stat().st_size > 0, name
    assert "Hessian analyses" in out
    rows = (tmp_path / "report" / "hessian_summary.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * len(files.labels(str(glorot_run)))


def bad(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def hessian_files(run):
    return sorted(os.listdir(run / "hessian")) if (run / "hessian").exists() else []


@pytest.mark.parametrize("flags, message", [
    (["--epoch", "1"], "no checkpoint of epoch 1: a run keeps its newest one, epoch 2"),
    (["--split", "validation"], "invalid choice: 'validation'"),
    (["--top_k", "0"], "must be an integer >= 1"),
    (["--batch_size", "300", "--batches", "4"], "fewer than the 1200 requested"),
    (["--tolerance", "-1"], "must be a number > 0"),
    (["--label", "a/b"], "must be a plain directory name"),
], ids=["epoch", "split", "top_k", "examples", "tolerance", "label"])
def test_bad_flags_are_one_line_and_write_nothing(glorot_run, capsys, flags, message):
    before = hessian_files(glorot_run)
    code, err = bad(["hessian", str(glorot_run), *flags], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and message in err, err
    assert hessian_files(glorot_run) == before


def test_exact_on_a_model_too_large_says_how_large(tmp_path, capsys):
    output = tmp_path / "runs"
    assert main(["--dataset", "mnist1d", "--hidden_layers", "1", "--units", str(EXACT_LIMIT // 40), "--epochs", "1",
                 "--steps_per_epoch", "2", "--record_every", "0", "--output_dir", str(output), "--name", "big"]) == 0
    run = output / "mnist1d" / "big"
    size = 40 * (EXACT_LIMIT // 40) + EXACT_LIMIT // 40 + (EXACT_LIMIT // 40) * 10 + 10
    code, err = bad(["hessian", str(run), "--exact"], capsys)
    assert code == 2 and err == (f"error: --exact: the model has {size:,} parameters, more than the {EXACT_LIMIT:,} "
                                 "whose full Hessian initlab builds")
    assert hessian_files(run) == []


def test_runs_without_weights_to_analyse(tmp_path, glorot_run, capsys):
    fresh = tmp_path / "fresh"  # a run directory whose first epoch never completed
    fresh.mkdir()
    shutil.copy(glorot_run / "config.json", fresh / "config.json")
    code, err = bad(["hessian", str(fresh)], capsys)
    assert code == 2 and "has no checkpoint" in err and "--epoch 0" in err
    code, err = bad(["hessian", str(tmp_path / "missing")], capsys)
    assert code == 2 and "is not a directory" in err
    assert hessian_files(fresh) == []


def test_an_existing_label_needs_overwrite(glorot_run, capsys):
    label = "twice"
    assert main(["hessian", str(glorot_run), "--label", label, "--lanczos_steps", "10"]) == 0
    before = (glorot_run / "hessian" / f"{label}.h5").stat().st_mtime_ns
    code, err = bad(["hessian", str(glorot_run), "--label", label, "--epoch", "0"], capsys)
    assert code == 2 and "exists; pass --overwrite" in err
    assert (glorot_run / "hessian" / f"{label}.h5").stat().st_mtime_ns == before


def test_file_layout(glorot_run):
    with h5py.File(glorot_run / "hessian" / "epoch2_test.h5", "r") as f:
        assert {"settings", "epoch", "split", "examples", "parameters", "backend", "layers"} <= set(f.attrs)
        assert {"eigenvalues", "iterations", "power_eigenvalues", "trace_samples", "ritz_values",
                "ritz_weights"} <= set(f["all"])
        assert json.loads(f.attrs["settings"])["batch_size"] == 200


def test_hessian_every_is_a_flag_of_the_studies_that_train_through_the_shared_runner(capsys):
    from lib.studies.constnet.config import ConstnetConfig

    for config in (GlorotConfig, ConstnetConfig):
        assert {"hessian_every", "hessian_examples"} <= set(config.__dataclass_fields__)
    code, err = bad(["diversity", "--hessian_every", "2"], capsys)
    assert code == 2 and "unrecognized arguments: --hessian_every" in err
