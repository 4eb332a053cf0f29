"""The weightnorm run end to end (lib/studies/weightnorm/run.py) on the offline digits: the files, the
best-validation weights as the ones tested, `lr` in the history as the schedule gives it, gradient
accumulation equal to the whole batch, the seeded validation split, Cutout, divergence with its epoch,
--hessian against the exact Hessian, `experiment.py hessian --epoch 0` against the run's own initial
model (data-dependent init included), and bad input as one line with nothing written."""

import json

import numpy as np
import pytest

from lib.backend.hessian_vector import HessianVectorProduct
from lib.cli import main
from lib.datasets.augment import cutout
from lib.datasets.splits import Split
from lib.hessian import spectrum
from lib.hessian.subject import batches, compiled_loss
from lib.runs.training import BEST_WEIGHTS
from lib.storage.epoch_table import read_epoch_table
from lib.studies import config_of_run
from lib.studies.weightnorm import run as weightnorm_run
from lib.studies.weightnorm.config import WeightnormConfig, resolve
from lib.studies.weightnorm.schedules import learning_rate

# A 2-hidden-layer WN MLP on digits, a warmup over the first epoch and a drop (type 1) after epoch 1 of 3.
MLP = ["weightnorm", "--dataset", "digits", "--nn", "mlp", "--hidden_size", "16", "--weight_norm", "--init",
       "orthogonal_datadep", "--num_epochs", "3", "--batch_size", "128", "--lr", "0.1", "--lr_annealing_type", "1",
       "--warmup_epochs", "1", "--momentum", "0.9", "--weight_decay", "5e-4", "--seed", "3", "--model", "m"]


def read_json(path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    output = tmp_path_factory.mktemp("runs")
    assert main([*MLP, "--output_dir", str(output)]) == 0
    return output / "digits" / "m"


def run_config(run_dir) -> WeightnormConfig:
    return config_of_run(str(run_dir), read_json(run_dir / "config.json"), "analysed")[1]


def test_run_files_and_the_tested_model_is_the_best_validation_epoch(mlp_run):
    assert read_json(mlp_run / "status.json")["state"] == "done"
    results = read_json(mlp_run / "results.json")
    history = read_epoch_table(str(mlp_run / "history.h5"))
    assert len(history["val_acc"]) == 3
    assert results["best_epoch"] == int(np.argmax(history["val_acc"])) + 1
    assert results["best_val_acc"] == pytest.approx(float(np.max(history["val_acc"])))
    assert (results["diverged"], results["epochs_completed"]) == (False, 3)
    # The tested weights: the best epoch's file, evaluated here on the run's own test split.
    config = resolve(run_config(mlp_run))
    data = weightnorm_run.load_data(config)
    model = weightnorm_run.build_model(config, data.train.x.shape[1:], data.num_classes, steps=1)
    model.load_weights(mlp_run / BEST_WEIGHTS)
    scores = model.evaluate(data.test.x, data.test.y, return_dict=True, verbose=0)
    assert results["test_acc"] == pytest.approx(scores["acc"], abs=1e-6)
    assert results["test_loss"] == pytest.approx(scores["loss"], rel=1e-5)


def test_history_lr_is_the_schedule_at_each_epochs_last_update(mlp_run):
    config = resolve(run_config(mlp_run))
    steps = weightnorm_run.steps_per_epoch(config, weightnorm_run.load_data(config).train)
    history = read_epoch_table(str(mlp_run / "history.h5"))
    expected = [learning_rate(epoch * steps - 1, lr=0.1, steps_per_epoch=steps, num_epochs=3, annealing_type=1,
                              warmup_epochs=1, warmup_lr=0.0) for epoch in (1, 2, 3)]
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-6)
    assert expected == pytest.approx([0.1, 0.01, 0.001])  # the warmup ends with epoch 1; type 1 drops at 1 and 2 of 3


def test_validation_split_is_seeded_disjoint_and_sized():
    x = np.arange(1000, dtype=np.float32)[:, None]
    pool = Split(x, np.eye(10, dtype=np.float32)[np.arange(1000) % 10])
    train, validation = weightnorm_run.validation_split(pool, 0.1, seed=1)
    again, _ = weightnorm_run.validation_split(pool, 0.1, seed=1)
    other, _ = weightnorm_run.validation_split(pool, 0.1, seed=2)
    assert (len(train), len(validation)) == (900, 100)
    assert sorted(np.concatenate([train.x, validation.x])[:, 0]) == list(range(1000))
    assert np.array_equal(train.x, again.x) and not np.array_equal(train.x, other.x)
    assert not np.array_equal(validation.x[:, 0], np.arange(900, 1000))  # drawn at random, not the last examples


def test_gradient_accumulation_equals_the_whole_batch():
    """--mini_batch_size 16 of --batch_size 32: two loader batches, their gradients averaged into one
    update, which on an MLP (no BatchNorm) is the update of the 32 examples at once."""
    base = WeightnormConfig(dataset="digits", nn="mlp", hidden_size=8, weight_norm=True, init="he_proposed",
                            batch_size=32, lr=0.5, momentum=0.9, num_epochs=1, seed=2, debug=True)
    trained = []
    for mini_batch_size in (None, 16):
        config = resolve(WeightnormConfig(**{**base.__dict__, "mini_batch_size": mini_batch_size}))
        data = weightnorm_run.load_data(config)
        data = weightnorm_run.WeightnormData(data.train.head(128), data.validation, data.test, data.num_classes)
        inputs = weightnorm_run.fit_inputs(config, data)
        model = weightnorm_run.initial_model(config, data, inputs)
        model.fit(**inputs, epochs=1, verbose=0)
        trained.append([np.asarray(w) for w in model.get_weights()])
        assert int(model.optimizer.iterations) == 128 // 32  # updates, whatever the accumulation
    for whole, accumulated in zip(*trained, strict=True):
        np.testing.assert_allclose(accumulated, whole, rtol=2e-4, atol=2e-6)


def test_cutout_zeroes_one_clipped_square_per_image():
    images = np.ones((200, 32, 32, 3), dtype=np.float32)
    holes = cutout(images, np.random.default_rng(0)) == 0
    assert np.array_equal(holes.all(axis=-1), holes.any(axis=-1))  # every channel of a pixel
    per_image = holes[..., 0]
    sizes = per_image.sum(axis=(1, 2))
    assert sizes.max() == 16 * 16 and sizes.min() >= 8 * 8  # a corner centre keeps a quarter of the hole
    rows, columns = per_image.any(axis=2), per_image.any(axis=1)
    assert np.array_equal(sizes, rows.sum(axis=1) * columns.sum(axis=1))  # one rectangle
    # whole when the centre is 8 or more pixels from both borders: (17/32)^2 = 0.28 of centres (3 sigma: 0.095)
    assert abs((sizes == 256).mean() - (17 / 32) ** 2) < 0.095


def test_a_diverged_run_ends_with_its_epoch(tmp_path, capsys):
    argv = ["weightnorm", "--dataset", "digits", "--nn", "mlp", "--num_layers", "4", "--weight_norm", "--init",
            "he_proposed", "--lr", "2", "--lr_annealing_type", "0", "--num_epochs", "3", "--model", "d",
            "--output_dir", str(tmp_path)]
    assert main(argv) != 0
    assert "diverged" in capsys.readouterr().err
    run_dir = tmp_path / "digits" / "d"
    status, results = read_json(run_dir / "status.json"), read_json(run_dir / "results.json")
    assert status["state"] == "diverged" and results["diverged"] is True
    assert results["epochs_completed"] == status["last_epoch"] < 3
    assert (results["test_acc"] is None) == (results["best_epoch"] is None)


def test_hessian_flag_measures_the_top_eigenvalue_at_init(tmp_path):
    argv = ["weightnorm", "--dataset", "digits", "--nn", "mlp", "--hidden_size", "6", "--weight_norm", "--init",
            "he_datadep", "--batch_size", "64", "--hessian", "--output_dir", str(tmp_path)]
    assert main(argv) == 0
    (run_dir,) = (tmp_path / "digits").iterdir()
    assert run_dir.name.endswith("-hessian") and not (run_dir / "history.h5").exists()
    measured = read_json(run_dir / "hessian_init.json")
    assert read_json(run_dir / "status.json")["state"] == "done"
    config = resolve(run_config(run_dir))
    data = weightnorm_run.load_data(config)
    examples = weightnorm_run.hessian_batches(config, data)
    assert measured["examples"] == len(examples) == 64 * 3  # 10% of 22 batches of 64, rounded up
    model = weightnorm_run.initial_model(config, data, weightnorm_run.fit_inputs(config, data))
    hvp = HessianVectorProduct(model, compiled_loss(model), batches(examples, 64))
    exact = np.linalg.eigvalsh(spectrum.exact_hessian(hvp, hvp.parameters.size))
    largest = exact[np.argmax(np.abs(exact))]
    assert measured["iterations"] == 40
    # 40 power iterations from one random start: converged to ~1% when the top eigenvalue is separated
    assert measured["hessian_top_eigenvalue"] == pytest.approx(largest, rel=2e-2)
    assert measured["log_spectral_norm"] == pytest.approx(np.log(abs(measured["hessian_top_eigenvalue"])))


def test_hessian_epoch_zero_rebuilds_the_data_dependent_initialization(mlp_run):
    """The run's initial weights (data-dependent g and bias from its first batch), captured at train begin of
    the study's own training code, equal the hook's --epoch 0 model bit for bit."""
    from lib.studies.weightnorm.hessian import hessian_subject

    config = resolve(run_config(mlp_run))
    data = weightnorm_run.load_data(config)
    inputs = weightnorm_run.fit_inputs(config, data)
    model = weightnorm_run.initial_model(config, data, inputs)
    initial = [np.asarray(w) for w in model.get_weights()]
    subject = hessian_subject(str(mlp_run), config, epoch=0, split="test", count=50)
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(initial, subject.model.get_weights(), strict=True))
    g = [w for w in subject.model.weights if w.path.endswith("/g")][0]
    assert not np.allclose(np.asarray(g), 1.0)  # data-dependent: g = 1/σ per unit
    trained = hessian_subject(str(mlp_run), config, epoch=None, split="test", count=50)
    assert trained.epoch == 3
    assert main(["hessian", str(mlp_run), "--epoch", "0", "--batch_size", "50", "--top_k", "2",
                 "--trace_iterations", "20", "--lanczos_steps", "10"]) == 0
    assert (mlp_run / "hessian" / "epoch0_test.h5").exists()


def test_debug_run_saves_nothing(tmp_path, capsys):
    assert main(["weightnorm", "--dataset", "digits", "--nn", "cnn", "--hidden_size", "8", "--weight_norm", "--debug",
                 "--output_dir", str(tmp_path)]) == 0
    assert "debug: nothing saved" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("flags, message", [
    (["--init", "he_proposed"], "pass --weight_norm"),
    (["--nn", "mlp", "--batch_norm"], "--batch_norm applies to --nn resnet or wrn"),
    (["--cutout"], "--cutout applies to CIFAR only"),
    (["--batch_size", "100", "--mini_batch_size", "30"], "does not divide"),
    (["--nn", "cnn", "--dataset", "mnist1d"], "only --nn mlp takes"),
    (["--init_extra_param", "hanin", "--nn", "wrn", "--weight_norm", "--init", "he_datadep"], "use --init he_proposed"),
    (["--val_fraction", "1"], "must be a number in (0, 1)"),
    (["--lr_annealing_type", "6"], "invalid choice"),
    (["--init", "kaiming"], "invalid choice"),
    (["--debug", "--resume"], "nothing to --resume"),
    (["--hessian", "--resume"], "trains nothing"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, flags, message):
    assert main(["weightnorm", "--dataset", "digits", "--init", "he", *flags, "--output_dir", str(tmp_path)]) != 0
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_an_existing_run_is_not_overwritten(mlp_run, capsys):
    before = (mlp_run / "results.json").read_text()
    assert main([*MLP, "--output_dir", str(mlp_run.parent.parent)]) != 0
    assert "--overwrite" in capsys.readouterr().err
    assert (mlp_run / "results.json").read_text() == before



@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_the_originals_preprocessing_on_files_in_the_real_format(tmp_path, monkeypatch, dataset):
    """§A2: MNIST Normalize(0.5, 1.0), i.e. pixels in [0, 1] minus 0.5; CIFAR per channel with the
    original's mean and std; train + validation = the whole training file, test its own."""
    from tests.core.test_datasets import write_cifar, write_mnist

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    raw = (write_mnist if dataset == "mnist" else write_cifar)(tmp_path)
    config = resolve(WeightnormConfig(dataset=dataset, nn="cnn", init="he", val_fraction=0.25, seed=5))
    data = weightnorm_run.load_data(config)
    x_train, x_test = (np.asarray(raw[key], dtype=np.float64) / 255 for key in ("x_train", "x_test"))
    if dataset == "mnist":
        expected_train, expected_test = x_train[..., None] - 0.5, x_test[..., None] - 0.5
    else:
        mean, std = np.array([0.4914, 0.4822, 0.4465]), np.array([0.2023, 0.1994, 0.2010])
        expected_train, expected_test = (x_train - mean) / std, (x_test - mean) / std
    assert len(data.train) + len(data.validation) == len(expected_train)
    assert len(data.validation) == int(len(expected_train) * 0.25)
    pooled = np.concatenate([data.train.x, data.validation.x]).reshape(len(expected_train), -1)
    order = np.lexsort(pooled.T)
    np.testing.assert_allclose(pooled[order], expected_train.reshape(len(expected_train), -1)[
        np.lexsort(expected_train.reshape(len(expected_train), -1).T)], atol=1e-5)
    np.testing.assert_allclose(data.test.x, expected_test, atol=1e-5)
