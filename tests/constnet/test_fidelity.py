"""The constnet study against the original code (reference/constnet.md §1): PyTorch's SGD, the CIFAR
per-channel normalization; and its `--debug` smoke run."""

import os
import time

import keras
import numpy as np
import pytest

from lib.cli import main
from lib.optimizers.pytorch_sgd import PyTorchSGD
from lib.runs.checkpoint import load_checkpoint, save_checkpoint
from lib.studies.constnet.config import ConstnetConfig, resolve
from lib.studies.constnet.run import build_model, load_data
from lib.studies.constnet.schedules import EpochStepDrops, rate_at_epoch
from tests.core.test_datasets import write_cifar, write_cifar100

# A toy quadratic L(w) = ½ Σ a·w², gradient a·w; one "epoch" per update, so the epoch-step schedule
# of a 10-epoch run drops the rate ×0.2 before updates 3, 6 and 8 (1-based epochs 3, 6, 8).
CURVATURE = np.array([1.0, 3.0, 0.5, 2.0])
START = np.array([1.0, -2.0, 0.5, 1.5])
BASE_RATE, MOMENTUM, UPDATES = 0.1, 0.9, 10
FIRST_DROP = 2  # 0-based update index of the first dropped rate
# float32 arithmetic on O(1) values over 10 updates: ~1e-7; 1e-6 is the brief's bound.
TOLERANCE = 1e-6


def pytorch_sgd_path(nesterov: bool) -> list[np.ndarray]:
    """torch.optim.SGD (dampening 0) written out in float64: v ← μv + g; w ← w − lr·(g + μv if nesterov else v)."""
    w, v, path = START.copy(), np.zeros_like(START), []
    for update in range(UPDATES):
        g = CURVATURE * w
        v = MOMENTUM * v + g
        w = w - rate_at_epoch(BASE_RATE, update + 1, UPDATES) * (g + MOMENTUM * v if nesterov else v)
        path.append(w)
    return path


def keras_path(optimizer) -> list[np.ndarray]:
    variable = keras.Variable(START.astype(np.float32), name="w")
    path = []
    for _ in range(UPDATES):
        gradient = keras.ops.multiply(keras.ops.convert_to_tensor(CURVATURE.astype(np.float32)), variable.value)
        optimizer.apply([gradient], [variable])
        path.append(keras.ops.convert_to_numpy(variable.value).astype(np.float64))
    return path


def schedule():
    return EpochStepDrops(BASE_RATE, steps_per_epoch=1, epochs=UPDATES)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_is_pytorchs_form_and_keras_sgd_is_not_after_a_rate_drop(nesterov):
    expected = pytorch_sgd_path(nesterov)
    ours = keras_path(PyTorchSGD(schedule(), momentum=MOMENTUM, nesterov=nesterov))
    np.testing.assert_allclose(ours, expected, atol=TOLERANCE, rtol=0)
    theirs = keras_path(keras.optimizers.SGD(schedule(), momentum=MOMENTUM, nesterov=nesterov))
    # Same updates while the rate is constant (Keras' velocity is −lr·PyTorch's) ...
    np.testing.assert_allclose(theirs[:FIRST_DROP], expected[:FIRST_DROP], atol=TOLERANCE, rtol=0)
    # ... then Keras' velocity still carries the old rate: a larger step right after the drop.
    gap = np.abs(np.asarray(theirs[FIRST_DROP]) - expected[FIRST_DROP]).max()
    assert gap > 1000 * TOLERANCE, gap


def test_sgd_without_momentum_is_plain_gradient_descent():
    ours = keras_path(PyTorchSGD(schedule()))
    w = START.copy()
    for update, reached in enumerate(ours):
        w = w - rate_at_epoch(BASE_RATE, update + 1, UPDATES) * CURVATURE * w
        np.testing.assert_allclose(reached, w, atol=TOLERANCE, rtol=0)


def test_sgd_serializes_with_its_schedule():
    optimizer = PyTorchSGD(EpochStepDrops(0.03, steps_per_epoch=7, epochs=200), momentum=0.9, nesterov=True)
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is PyTorchSGD and (restored.momentum, restored.nesterov) == (0.9, True)
    assert restored.get_config() == optimizer.get_config()
    assert keras.optimizers.serialize(restored)["config"]["learning_rate"]["config"] == \
        {"base_rate": 0.03, "steps_per_epoch": 7, "epochs": 200}


def small_config(**overrides):
    return resolve(ConstnetConfig(**{"layers": 7, "widen_factor": 1, "batchnorm": True, "dataset": "digits", **overrides}))


def test_run_checkpoint_saves_and_restores_the_velocities(tmp_path):
    config = small_config(epochs=4)
    x = np.random.default_rng(0).normal(size=(8, 8, 8, 1)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[np.arange(8)]
    keras.utils.set_random_seed(0)
    model = build_model(config, x.shape[1:], 10, steps=2)
    assert isinstance(model.optimizer, PyTorchSGD)
    model.train_on_batch(x, y)
    model.train_on_batch(x, y)
    velocities = [keras.ops.convert_to_numpy(v) for v in model.optimizer.velocities]
    assert len(velocities) == len(model.trainable_variables) and any(np.abs(v).max() > 0 for v in velocities)
    save_checkpoint(str(tmp_path), model, epoch=1)

    fresh = build_model(config, x.shape[1:], 10, steps=2)
    assert load_checkpoint(str(tmp_path), fresh) == 1
    assert int(keras.ops.convert_to_numpy(fresh.optimizer.iterations)) == 2
    for restored, saved in zip(fresh.optimizer.velocities, velocities, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored), saved)
    # The next update of the restored run is the uninterrupted run's next update.
    model.train_on_batch(x, y)
    fresh.train_on_batch(x, y)
    for a, b in zip(model.trainable_variables, fresh.trainable_variables, strict=True):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), keras.ops.convert_to_numpy(a), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("dataset, writer", [("cifar10", write_cifar), ("cifar100", write_cifar100)])
def test_cifar_is_normalized_per_channel_with_the_original_constants(tmp_path, monkeypatch, dataset, writer):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    raw = writer(tmp_path)
    train, test, num_classes = load_data(small_config(dataset=dataset))
    # BeyondSigProp train.py: Normalize(mean=[125.3, 123.0, 113.9]/255, std=[63.0, 62.1, 66.7]/255), not the data's.
    mean, std = np.array([125.3, 123.0, 113.9]) / 255, np.array([63.0, 62.1, 66.7]) / 255
    assert train.x.dtype == np.float32 and len(train) == len(raw["x_train"])  # validation merged back in
    # float32 pixels / 255 and constants: ~1e-7 relative on values up to ~2.
    np.testing.assert_allclose(train.x, (raw["x_train"] / 255 - mean) / std, atol=1e-5, rtol=0)
    np.testing.assert_allclose(test.x, (raw["x_test"] / 255 - mean) / std, atol=1e-5, rtol=0)


SMALL_DEBUG = ["constnet", "--layers", "7", "--widen-factor", "1", "--dataset", "digits", "--debug"]


def test_debug_runs_a_few_tiny_epochs_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    assert main([*SMALL_DEBUG, "--output_dir", str(tmp_path / "runs"), "--epochs", "50"]) == 0
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    # 3 epochs (not the 50 asked) of the first 512 images, batch 128: 4 updates per epoch.
    assert "3 epochs of 4 steps on the first 512 images (debug: nothing saved)" in out, out
    assert "best test accuracy" in out
    assert os.listdir(tmp_path) == []
    print(f"constnet --debug took {seconds:.1f} s")  # the speed target itself is bench/'s, not a test's


def test_debug_with_resume_is_one_line(tmp_path, capsys):
    assert main([*SMALL_DEBUG, "--resume", "--output_dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "error: --debug runs save nothing, so there is nothing to --resume\n"
    assert not os.listdir(tmp_path)
