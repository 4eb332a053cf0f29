"""Validation networks with learned activations (reference/diversity.md §2): the piecewise-linear layer,
PyTorch's default init, the pure / diverse / base arms, validation training, its run directory, and the
compare command's statistics and files. Run once per backend (KERAS_BACKEND)."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from lib.datasets.splits import Split, one_hot
from lib.errors import UsageError
from lib.initializers import INITIALIZERS, layer_seed
from lib.runs.run_dir import lock_directory
from lib.studies.diversity import validation
from lib.studies.diversity.activation_files import LearnedActivations, save_text
from lib.studies.diversity.compare import SUMMARY_COLUMNS, paired_interval, run_compare, summarize, table
from lib.studies.diversity.config import DiversityConfig
from models import MODELS
from models.learned_activation import PiecewiseLinearActivation
from tests.diversity.test_activation_files import write_activations_h5

GRID = np.array([-5.0, -3.0, -2.5, 0.0, 1.0, 4.0, 5.0])  # non-uniform: the search must not assume a spacing
VALUES = np.stack([np.sin(GRID), GRID ** 2 / 10, -np.abs(GRID)])


def layer_output(layer, x) -> np.ndarray:
    return keras.ops.convert_to_numpy(layer(np.asarray(x, dtype=np.float32)))


def line(x, x0, y0, x1, y1):
    return y0 + (y1 - y0) / (x1 - x0) * (x - x0)


def test_interpolation_is_exact_on_the_grid_and_linear_between_per_neuron_function():
    assignment = np.array([0, 1, 2, 1])
    layer = PiecewiseLinearActivation(GRID, VALUES, assignment)
    inside = np.concatenate([GRID, np.random.default_rng(0).uniform(-5, 5, 40)])
    out = layer_output(layer, np.repeat(inside[:, None], 4, axis=1))
    for neuron, function in enumerate(assignment):
        np.testing.assert_allclose(out[:len(GRID), neuron], VALUES[function], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out[:, neuron], np.interp(inside, GRID, VALUES[function]), rtol=1e-5, atol=1e-5)


def test_beyond_the_grid_the_first_and_last_segments_extrapolate_linearly():
    layer = PiecewiseLinearActivation(GRID, VALUES, [0, 1, 2])
    for x in (-9.0, -5.5, 5.25, 12.0):
        out = layer_output(layer, [[x, x, x]])[0]
        segment = (0, 1) if x < GRID[0] else (-2, -1)
        expected = [line(x, GRID[segment[0]], row[segment[0]], GRID[segment[1]], row[segment[1]]) for row in VALUES]
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    # not a clamp: sin's last segment is not flat, so the value keeps changing past x = 5
    assert abs(layer_output(layer, [[12.0, 0, 0]])[0, 0] - np.sin(5.0)) > 0.1


def test_the_layer_rejects_bad_tables():
    with pytest.raises(ValueError):
        PiecewiseLinearActivation([0.0, 1.0, 1.0], [[0, 1, 2]], [0])
    with pytest.raises(ValueError):
        PiecewiseLinearActivation(GRID, VALUES, [0, 3])


def build(seed=5, input_shape=(6,), hidden=4, **kwargs):
    return MODELS.build("learned_activation_mlp", input_shape, 3, seed=seed, hidden=hidden, grid=GRID,
                        values=VALUES, assignment=kwargs.pop("assignment", [0, 0, 1, 2]), **kwargs)


def test_network_layers_and_pytorch_default_init_drawn_with_numpy():
    model = build(input_shape=(6,), hidden=4)
    assert [layer.name for layer in model.layers] == ["input", "dense_1", "learned_activation", "logits"]
    assert len(model.get_weights()) == 4  # the learned functions are constants, not weights
    for index, name, fan_in, shape in ((1, "dense_1", 6, (6, 4)), (2, "logits", 4, (4, 3))):
        kernel, bias = model.get_layer(name).get_weights()
        bound = 1 / np.sqrt(fan_in)
        # the same draws on every backend: NumPy's generator from the layer's seeds
        expected_kernel = np.random.default_rng(layer_seed(5, 2 * index)).uniform(-bound, bound, shape)
        expected_bias = np.random.default_rng(layer_seed(5, 2 * index + 1)).uniform(-bound, bound, shape[1])
        np.testing.assert_allclose(kernel, expected_kernel, rtol=1e-6)
        np.testing.assert_allclose(bias, expected_bias, rtol=1e-6)


def test_torch_initializers_have_the_pytorch_bound():
    kernel = keras.ops.convert_to_numpy(INITIALIZERS.build("torch_linear_kernel", seed=1)((400, 300)))
    bias = keras.ops.convert_to_numpy(INITIALIZERS.build("torch_linear_bias", seed=1, fan_in=25)((5000,)))
    for values, bound in ((kernel, 1 / 20), (bias, 1 / 5)):
        assert np.abs(values).max() <= bound and np.abs(values).max() > 0.99 * bound
        assert abs(values.var() - bound ** 2 / 3) < 0.05 * bound ** 2 / 3  # U(-b, b) has variance b^2 / 3


def test_saved_network_reloads_with_the_same_outputs(tmp_path):
    model = build(input_shape=(2, 3))  # images are flattened first
    x = np.random.default_rng(1).normal(scale=4, size=(16, 2, 3)).astype(np.float32)
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)))
    np.testing.assert_array_equal(restored.get_layer("learned_activation").values, VALUES)


LEARNED = LearnedActivations(x=GRID, values=VALUES, base="tanh", inner_lr=0.05, source="learned.txt")


def test_pure_arm_uses_function_k_everywhere_and_names_n_when_out_of_range():
    arm = validation.arm_activations(LEARNED, "2", "tanh", hidden=7)
    np.testing.assert_array_equal(arm.values, VALUES[1:2])
    np.testing.assert_array_equal(arm.assignment, np.zeros(7))
    np.testing.assert_array_equal(arm.grid, GRID)
    with pytest.raises(UsageError, match="n = 3") as error:
        validation.arm_activations(LEARNED, "4", "tanh", hidden=7)
    assert "\n" not in str(error.value)


def test_diverse_arm_uses_every_function_in_contiguous_blocks():
    arm = validation.arm_activations(LEARNED, "diverse", "tanh", hidden=8)
    np.testing.assert_array_equal(arm.values, VALUES)
    np.testing.assert_array_equal(arm.assignment, [0, 0, 0, 1, 1, 1, 2, 2])  # the leftover neurons go to the first blocks
    with pytest.raises(UsageError, match="more than the 2 hidden neurons"):
        validation.arm_activations(LEARNED, "diverse", "tanh", hidden=2)


def test_base_arm_samples_the_unlearned_base_on_the_same_grid():
    for name, function in (("sin", np.sin), ("tanh", np.tanh), ("elu", lambda x: np.where(x > 0, x, np.expm1(x)))):
        arm = validation.arm_activations(LEARNED, "base", name, hidden=5)
        np.testing.assert_array_equal(arm.grid, GRID)
        np.testing.assert_allclose(arm.values, function(GRID)[None], rtol=1e-6, atol=1e-7)
        np.testing.assert_array_equal(arm.assignment, np.zeros(5))
    assert len(validation.arm_activations(LEARNED, "base", "sin", 11, hidden=5).grid) == 11
    with pytest.raises(UsageError, match="relu"):
        validation.arm_activations(LEARNED, "base", "relu", hidden=5)


def blobs(count: int, seed: int, features: int = 6, classes: int = 3) -> Split:
    """Gaussian blobs, one per class: learnable in a few epochs."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(classes, size=count)
    centres = np.random.default_rng(99).normal(scale=2.0, size=(classes, features))
    return Split((centres[labels] + rng.normal(size=(count, features))).astype(np.float32), one_hot(labels, classes))


TRAIN, TEST = blobs(120, 1), blobs(60, 2)
TRAINING = dict(epochs=3, learning_rate=0.1, momentum=0.8, batch_size=32)


def test_train_arm_yields_sane_rows_and_each_run_restarts_from_its_seed():
    arm = validation.arm_activations(LEARNED, "diverse", "tanh", hidden=6)
    lines, kernels = [], []
    rows = list(validation.train_arm(arm, TRAIN, TEST, seed=10, runs=2, progress=lines.append, **TRAINING,
                                     on_model=lambda run, model: kernels.append(model.get_layer("dense_1").get_weights()[0])))
    assert [(row["run"], row["seed"], row["epoch"]) for row in rows] == [(r, 10 + r, e) for r in (0, 1) for e in (1, 2, 3)]
    assert len(lines) == 6 and len(kernels) == 2
    initial = MODELS.build("learned_activation_mlp", (6,), 3, seed=11, hidden=6, grid=GRID, values=VALUES,
                           assignment=arm.assignment).get_layer("dense_1").get_weights()[0]
    assert np.abs(kernels[1] - initial).max() > 1e-3  # the gradient reaches dense_1 through the activations
    for row in rows:
        assert set(row) == set(validation.RUN_COLUMNS)
        assert 0 <= row["train_acc"] <= 1 and 0 <= row["test_acc"] <= 1 and 0 < row["test_loss"] < 10
    assert rows[2]["train_loss"] < np.log(3) and rows[2]["test_acc"] > 0.6  # the blobs are learned
    # Run 1 after run 0 (same compiled network, weights and optimizer reset) = run 1 alone (a new network).
    alone = list(validation.train_arm(arm, TRAIN, TEST, seed=10, runs=2, first_run=1, **TRAINING))
    for after, fresh in zip(rows[3:], alone, strict=True):
        for key in ("train_loss", "test_loss", "test_acc"):
            assert after[key] == pytest.approx(fresh[key], rel=1e-5)


def test_evaluate_is_the_mean_cross_entropy_and_accuracy_of_the_logits():
    model = build(input_shape=(6,), hidden=4)
    logits = keras.ops.convert_to_numpy(model(TEST.x)).astype(np.float64)
    labels = TEST.y.argmax(axis=1)
    loss = np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(labels)), labels])
    accuracy = np.mean(logits.argmax(axis=1) == labels)
    for chunk in (60, 25):  # one pass, and chunks with a padded last one
        assert validation.evaluate(model, TEST, chunk) == pytest.approx((loss, accuracy), rel=1e-6)


@pytest.fixture
def tiny_data(monkeypatch):
    monkeypatch.setattr(validation, "load_splits", lambda dataset, seed=0, debug=False: (TRAIN, TEST))


def test_validation_run_directory(tmp_path, tiny_data):
    path = tmp_path / "learned.txt"
    save_text(str(path), GRID, VALUES)
    config = DiversityConfig(act_path=str(path), validation_mode="2", runs=2, epochs=2, inner_hidden_size=6,
                             inner_batch_size=40, output_dir=str(tmp_path / "out"), save_model=True, save_curve=True,
                             name="v")
    assert validation.run_validation(config, ["diversity"]) == 0
    run = tmp_path / "out" / "mnist1d" / "v"
    with open(run / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(validation.RUN_COLUMNS) and len(rows) == 4
    results = json.loads((run / "results.json").read_text())
    assert results["test_acc"] == [float(rows[1]["test_acc"]), float(rows[3]["test_acc"])]
    assert results["mode"] == "2" and results["inner_lr"] == 0.01 and results["seeds"] == [100, 101]
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    curve = np.loadtxt(run / "Training_curves" / "train_loss_run_1.txt")
    np.testing.assert_allclose(curve[:, 0], [1, 2])
    np.testing.assert_allclose(curve[:, 4], [float(rows[2]["test_acc"]), float(rows[3]["test_acc"])])
    model = keras.saving.load_model(run / "model.keras")
    loss, accuracy = validation.evaluate(model, TEST)
    assert accuracy == pytest.approx(float(rows[1]["test_acc"])) and loss == pytest.approx(float(rows[1]["test_loss"]))
    # per-run resume keeps complete runs and the run in progress starts over
    assert len(validation.completed_runs(str(run), 2, save_model=True)) == 4
    with open(run / "runs.csv") as f:
        lines = f.readlines()
    (run / "runs.csv").write_text("".join(lines[:4]))  # run 1 stopped after its first epoch
    assert [row["run"] for row in validation.completed_runs(str(run), 2, save_model=True)] == [0, 0]
    os.remove(run / "model.keras")
    assert validation.completed_runs(str(run), 2, save_model=True) == []


def test_debug_validation_saves_nothing(tmp_path, tiny_data, capsys):
    path = tmp_path / "learned.txt"
    save_text(str(path), GRID, VALUES)
    config = DiversityConfig(act_path=str(path), validation_mode="base", inner_hidden_size=5, debug=True,
                             output_dir=str(tmp_path / "out"))
    assert validation.run_validation(config, ["diversity"]) == 0
    assert not (tmp_path / "out").exists() and "debug: nothing saved" in capsys.readouterr().out


def test_paired_interval_matches_a_hand_computation():
    diverse, pure = [0.61, 0.63, 0.64, 0.65, 0.67], [0.60, 0.61, 0.61, 0.61, 0.62]
    # d = 1, 2, 3, 4, 5 points: mean 3, sd sqrt(2.5), t_{0.975, 4} = 2.776445 (a t table)
    half = 2.776445 * np.sqrt(2.5) / np.sqrt(5) / 100
    mean, low, high = paired_interval(diverse, pure)
    assert mean == pytest.approx(0.03) and low == pytest.approx(0.03 - half, abs=1e-6)
    assert high == pytest.approx(0.03 + half, abs=1e-6)
    assert paired_interval([0.5], [0.4]) == (pytest.approx(0.1), None, None)


def test_summary_pairs_each_arm_with_diverse_by_run():
    rows = [{"arm": arm, "run": run, "epoch": epoch, "test_acc": accuracy + (epoch == 1)}
            for arm, accuracies in (("pure1", [0.5, 0.7]), ("diverse", [0.6, 0.9]), ("base", [0.4, 0.4]))
            for run, accuracy in enumerate(accuracies) for epoch in (1, 2)]
    summary = {row["arm"]: row for row in summarize(rows, ["pure1", "diverse", "base"], 2)}
    assert summary["pure1"]["test_acc_mean"] == pytest.approx(0.6)
    assert summary["pure1"]["test_acc_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert summary["pure1"]["diff_mean"] == pytest.approx(0.15) and summary["base"]["diff_mean"] == pytest.approx(0.35)
    assert summary["diverse"]["diff_mean"] is None and summary["diverse"]["runs"] == 2
    assert "pure1" in table(list(summary.values()))


def test_compare_end_to_end_on_a_tiny_file(tmp_path, tiny_data, capsys):
    path = tmp_path / "learned.txt"
    save_text(str(path), GRID, VALUES[:1])
    (tmp_path / "config.json").write_text(json.dumps({"study": "diversity", "activation": "tanh", "epochs": 1,
                                                      "inner_hidden_size": 6, "inner_batch_size": 40}))
    assert run_compare([str(path), "--runs", "2", "--seed", "3"]) == 0
    output = tmp_path / "learned_compare"
    with open(output / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(row["arm"], row["seed"]) for row in rows] == [(arm, str(seed)) for arm in ("pure1", "diverse", "base")
                                                           for seed in (3, 4)]
    summary = json.loads((output / "summary.json").read_text())
    assert [row["arm"] for row in summary["arms"]] == ["pure1", "diverse", "base"] and summary["base"] == "tanh"
    # with n = 1, pure1 and diverse are the same network on the same seeds: a zero difference
    pure1 = summary["arms"][0]
    assert pure1["diff_mean"] == 0 and pure1["diff_low"] == 0 and pure1["diff_high"] == 0
    with open(output / "summary.csv") as f:
        assert next(csv.reader(f)) == list(SUMMARY_COLUMNS)
    assert "diverse − arm" in capsys.readouterr().out
    with pytest.raises(UsageError, match="already exists"):
        run_compare([str(path)])


def test_compare_waits_for_a_run_being_written(tmp_path, tiny_data):
    (tmp_path / "config.json").write_text(json.dumps({"study": "diversity", "activation": "sin"}))
    write_activations_h5(tmp_path / "activations.h5", [VALUES], GRID, {"study": "diversity", "activation": "sin"})
    descriptor = lock_directory(str(tmp_path))
    try:
        with pytest.raises(UsageError, match="another initlab process"):
            run_compare([str(tmp_path)])
    finally:
        os.close(descriptor)
    with pytest.raises(UsageError, match="--runs"):
        run_compare([str(tmp_path), "--runs", "0"])
