"""IP-LLR's first-step base-learning-rate calibration (reference/weightnorm_abc.md §B2): "the first update
moves each pre-activation by about 1 on average" — exactly 1 for the intermediate layers and 0.1 for the
output layer, on batch 1, when the first real SGD step uses the calibrated rates."""

import keras
import numpy as np
import pytest

from lib.optimizers.scaled_lr import ScaledLearningRate
from lib.studies.abc.calibration import MAX_BASE_LR, calibrate_base_lrs, calibrated_warmup_scales
from lib.studies.abc.parameterizations import parameterization
from models import MODELS
from models.abc_mlp import abc_layers, lr_scales

WIDTH, N_LAYERS, INPUT_DIM, CLASSES, LR = 64, 4, 10, 5, 0.01


def build(name="ipllr", activation="tanh"):
    return MODELS.build("abc_mlp", (INPUT_DIM,), CLASSES, seed=7, parameterization=name, width=WIDTH,
                        n_layers=N_LAYERS, activation=activation)


def batches():
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(32, INPUT_DIM)).astype("float32"), rng.integers(0, CLASSES, 32)) for _ in range(2)]


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_first_calibrated_step_moves_each_preactivation_by_one(activation):
    """A real first step (SGD at η with the calibrated warm-up scales) moves batch 1's pre-activations,
    propagated through the updated network, by mean |Δh| = 1 in each intermediate layer and 0.1 in the
    output layer (§B2 steps 3-4); the input layer keeps η. float32 differences of O(1) values: 1e-4."""
    (x0, y0), (x1, y1) = batches()
    model = build(activation=activation)
    before = model.get_weights()
    base_lrs = calibrate_base_lrs(model, ((x0, y0), (x1, y1)), LR)
    for got, want in zip(model.get_weights(), before):
        np.testing.assert_array_equal(got, want)  # calibration works on a copy
    assert len(base_lrs) == N_LAYERS and base_lrs[0] == LR
    assert all(base < MAX_BASE_LR for base in base_lrs[1:-1])  # no cap: the property below is exact

    trained = build(activation=activation)
    p = parameterization("ipllr", N_LAYERS, activation=activation)
    trained.compile(optimizer=ScaledLearningRate(keras.optimizers.SGD(LR), lr_scales(trained),
                                                 warmup_scales=calibrated_warmup_scales(trained, p, base_lrs, LR),
                                                 n_warmup_steps=1),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trained.train_on_batch(x0, y0)
    x = x1
    for index, (initial, updated) in enumerate(zip(abc_layers(model), abc_layers(trained))):
        h = keras.ops.convert_to_numpy(updated(x))
        moved = np.mean(np.abs(h - keras.ops.convert_to_numpy(initial(x))))
        if index == N_LAYERS - 1:
            assert moved == pytest.approx(0.1, rel=1e-4)
        elif index > 0:
            assert moved == pytest.approx(1.0, rel=1e-4)
        else:
            assert moved > 0
        x = trained.get_layer(f"act_{index}")(h) if index < N_LAYERS - 1 else None


def test_intermediate_rates_are_capped():
    base_lrs = calibrate_base_lrs(build(), batches(), LR, max_base_lr=1e-9)
    assert base_lrs[0] == LR and base_lrs[1:-1] == [1e-9] * (N_LAYERS - 2) and base_lrs[-1] > 1e-9


def test_calibrated_scales_multiply_layers_and_their_shared_biases_only():
    """A calibrated base rate replaces η for a layer's kernel, and for its bias when the bias shares the
    layer's rate (IP-LLR); IP-LLR-bias's biases keep η·m^{−c} (the reference's separate bias groups)."""
    base_lrs = [LR, 2.0, 3.0, 0.5]
    for name in ("ipllr", "ipllr_bias"):
        model = build(name)
        warmup = lr_scales(model, warmup=True)
        scales = calibrated_warmup_scales(model, parameterization(name, N_LAYERS), base_lrs, LR)
        for layer, base in zip(abc_layers(model), base_lrs):
            assert scales[layer.kernel.path] == pytest.approx(warmup[layer.kernel.path] * base / LR)
            if layer.bias is not None:
                factor = base / LR if name == "ipllr" else 1.0
                assert scales[layer.bias.path] == pytest.approx(warmup[layer.bias.path] * factor)
    with pytest.raises(ValueError, match="3 base learning rates for 4 layers"):
        calibrated_warmup_scales(build(), parameterization("ipllr", N_LAYERS), base_lrs[:3], LR)
