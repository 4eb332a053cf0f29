"""Figure 1 on the real WN networks (lib/studies/weightnorm/figure1_models.py; reference/weightnorm_abc.md §A5,
§A6): the probe recorder's ratios against independent computations, and the signal-propagation properties the
paper claims, each within a band derived from theory.

The MLP bands. Through a WN ReLU layer with zero biases, ‖h^l‖²/‖h^{l−1}‖² = (energy gain of the linear map) ×
(the fraction f of the pre-activation's energy that the ReLU keeps). For n roughly Gaussian coordinates
f = Σ a_i²·1[a_i > 0] / Σ a_i² has mean 1/2 and std √(3/(4n)) (E a⁴ = 3), so log(2f) has std √(3/n) and after L
layers the log-ratio ½·Σ log(2f) has std √(3L/(4n)): 0.24 for L = 20, n = 256. A Gaussian v adds the spread of
‖Wh‖² (χ²_n/n, std √(2/n)): √(5L/(4n)) = 0.31. The bands are ±3 of these stds in the log (×e^{±0.72},
×e^{±0.94}) around the theory's mean. They hold for any draw, hence on both backends (whose seeded initializers
draw different numbers), and they are orders of magnitude apart from the inits that vanish or explode.
"""

import math

import keras
import numpy as np
import pytest

from lib.backend.gradients import FeedforwardProbe
from lib.errors import UsageError
from lib.studies.weightnorm.data_dependent import weight_normalized_layers
from lib.studies.weightnorm.figure1_models import (
    DATADEP_BATCH,
    NetworkProbe,
    RealNetwork,
    build_at_init,
    measured_layers,
    model_frame,
    signal_loss,
    signals,
)

DEPTH, WIDTH, INPUT = 20, 256, 64  # digits examples are 8x8x1: 64 inputs
SAMPLES = 200
ORTHOGONAL_BAND = math.exp(3 * math.sqrt(3 * DEPTH / (4 * WIDTH)))  # 2.05
GAUSSIAN_BAND = math.exp(3 * math.sqrt(5 * DEPTH / (4 * WIDTH)))  # 2.55


def probe_ratios(network, init, samples=SAMPLES, seed=0):
    """(model, x, δ, (forward, backward) per-sample ratios) of `network` under `init`."""
    x, delta, batch = signals(network, samples, seed)
    model = build_at_init(network, init, seed, batch)
    return model, x, delta, NetworkProbe(model, network.nn).ratios(x, delta, batch_size=64)


def within(values, centre, band) -> bool:
    return bool(np.all((values >= centre / band) & (values <= centre * band)))


# --- the recorder against independent computations -------------------------------------------------------

@pytest.mark.parametrize("init", ["orthogonal_proposed", "he_datadep"])  # he_datadep: non-zero biases
def test_mlp_ratios_match_a_numpy_forward_and_backward_pass(init):
    model, x, delta, (forward, backward) = probe_ratios(RealNetwork.of("mlp", "digits", num_layers=4, hidden_size=32),
                                                        init, samples=50)
    layers = [model.get_layer(name.replace("relu", "hidden")) for name in measured_layers(model, "mlp")[1]]
    kernels = [np.asarray(layer.effective_kernel(), dtype=np.float64) for layer in layers]
    inputs = x.reshape(len(x), -1).astype(np.float64)
    outputs = [inputs]
    for kernel, layer in zip(kernels, layers):  # h^l = ReLU(h^{l−1}·w_l + b_l)
        outputs.append(np.maximum(outputs[-1] @ kernel + np.asarray(layer.bias, dtype=np.float64), 0))
    gradients = [delta @ np.asarray(model.get_layer("logits").kernel, dtype=np.float64).T]  # ∂h^L = δ·Wᵀ
    for index in range(len(layers), 1, -1):  # ∂h^{l−1} = (1[h^l > 0] ⊙ ∂h^l)·w_lᵀ, l = L..2
        gradients.insert(0, (gradients[0] * (outputs[index] > 0)) @ kernels[index - 1].T)
    output_norms = np.linalg.norm(np.stack(outputs[1:], axis=1), axis=2)
    gradient_norms = np.linalg.norm(np.stack(gradients, axis=1), axis=2)
    np.testing.assert_allclose(forward, output_norms / np.linalg.norm(inputs, axis=1)[:, None], rtol=1e-4)
    np.testing.assert_allclose(backward, gradient_norms / gradient_norms[:, -1:], rtol=1e-4)


def test_resnet_ratios_match_a_direct_forward_and_finite_differences():
    """Forward: the block outputs of a plain Keras model over the same layers. Backward: ∂h^b is the gradient of
    C = ⟨δ, logits⟩ with respect to block b's output, so ⟨∂h^b, u⟩ is C's derivative along u there: the central
    difference of C through the rest of the network (a model from h^b to the logits). A step of 1e-4‖h^b‖
    balances float32 rounding against ReLU kinks crossed within the step: the difference then agrees within
    0.2% of the largest derivative (measured), a wrong gradient (a path missed, another layer's) by ~100%."""
    network = RealNetwork.of("resnet", "digits", hidden_size=4, num_blocks=2)
    model, x, delta, (forward, backward) = probe_ratios(network, "orthogonal_proposed", samples=8)
    reference, blocks = measured_layers(model, "resnet")
    assert reference == "stem" and blocks == [f"stage{s}_block{b}_add" for s in (1, 2, 3) for b in (1, 2)]
    direct = keras.Model(model.input, [model.get_layer(name).output for name in (reference, *blocks)])(x)
    norms = [np.linalg.norm(np.asarray(h, dtype=np.float64).reshape(len(x), -1), axis=1) for h in direct]
    np.testing.assert_allclose(forward, np.stack(norms[1:], axis=1) / norms[0][:, None], rtol=1e-5)

    record = FeedforwardProbe(model, [reference, *blocks], loss=signal_loss).capture(x, delta)
    rng = np.random.default_rng(0)
    checked = ("stage1_block1_add", "stage2_block1_add", "stage3_block2_add")  # identity and projection shortcuts
    for name, h in zip(blocks, direct[1:]):
        if name not in checked:
            continue
        rest = keras.Model(model.get_layer(name).output, model.output)
        h = np.asarray(h, dtype=np.float64)
        u = rng.standard_normal(h.shape)
        step = 1e-4 * np.linalg.norm(h.reshape(len(x), -1), axis=1) / np.linalg.norm(u.reshape(len(x), -1), axis=1)
        step = step.reshape(-1, *[1] * (h.ndim - 1))

        def loss(at, rest=rest):
            return np.sum(np.asarray(rest(at.astype("float32")), dtype=np.float64) * delta, axis=1)

        derivative = (loss(h + step * u) - loss(h - step * u)) / (2 * step.reshape(-1))
        recorded = np.sum((record.backprop[name] * u).reshape(len(x), -1), axis=1)
        np.testing.assert_allclose(recorded, derivative, rtol=0, atol=1e-2 * np.abs(derivative).max())


# --- the paper's claims, MLP: §A5's forward rule g = √(2·n_{l−1}/n_l) preserves the norm both ways ---------

@pytest.fixture(scope="module")
def deep_mlp():
    """{init: (forward, backward)}: the mean ratio per layer, l = 1..20 and 1..19."""
    network = RealNetwork.of("mlp", "digits", num_layers=DEPTH, hidden_size=WIDTH)
    df = model_frame(network, ["he_g1", "he", "he_proposed", "orthogonal_proposed"], samples=SAMPLES)
    return {init: tuple(rows[rows["direction"] == direction].sort_values("layer")["mean"].to_numpy()
                        for direction in ("forward", "backward"))
            for init, rows in df.groupby("init")}


@pytest.mark.parametrize("init", ["orthogonal_proposed", "he_proposed"])
def test_the_proposed_init_keeps_both_ratios_near_1_at_depth_20(deep_mlp, init):
    """g = √(2·fan_in/fan_out) (γ = 2, §A5): the linear map doubles the energy (exactly with orthogonal v, the
    first 64→256 layer included, in expectation with Gaussian v) and the ReLU halves it, forward and backward."""
    forward, backward = deep_mlp[init]
    band = ORTHOGONAL_BAND if init.startswith("orthogonal") else GAUSSIAN_BAND
    assert within(forward, 1.0, band), forward
    assert within(backward, 1.0, band), backward


def test_he_with_g_1_vanishes_as_the_paper_shows(deep_mlp):
    """§A6's "He (g = 1)": unit-norm rows map ‖h‖² to (fan_out/fan_in)·‖h‖² in expectation, the ReLU halves it: the
    forward ratio is √(n/(2·n_0))·2^{−(l−1)/2} (√2 at layer 1 here, 1.9e-3 at 20), the backward one 2^{−(L−l)/2}."""
    forward, backward = deep_mlp["he_g1"]
    layers = np.arange(1, DEPTH + 1)
    assert within(forward, math.sqrt(WIDTH / (2 * INPUT)) * 2.0 ** (-(layers - 1) / 2), ORTHOGONAL_BAND)
    assert within(backward, 2.0 ** (-(DEPTH - layers[:-1]) / 2), ORTHOGONAL_BAND)  # l = 1..L−1
    assert forward[-1] < 0.01 and backward[0] < 0.01


def test_pytorch_default_g_is_he_init_which_keeps_the_mlp_norm(deep_mlp):
    """`he` keeps PyTorch's default g = ‖v‖, so the effective weights are He's N(0, 2/fan_in): they keep each unit's
    second moment, so ‖h^l‖/‖x‖ = √(n/n_0) = 2 at every layer, not the paper's vanishing He (g = 1) curve."""
    forward, backward = deep_mlp["he"]
    assert within(forward, math.sqrt(WIDTH / INPUT), GAUSSIAN_BAND), forward
    assert within(backward, 1.0, GAUSSIAN_BAND), backward


# --- the paper's claims, ResNet: the proposed γ = 1/B bounds a stage's growth by √e -------------------------

def test_residual_stage_growth_is_bounded_only_under_the_proposed_init():
    """In block b of a stage of B, conv1 (γ = 2) then the ReLU keep the norm and conv2 (γ = 1/B) scales it by
    1/√B, so ‖h^b‖² ≈ (1 + 1/B)·‖h^{b−1}‖² and the first stage ends at (1 + 1/B)^{B/2} = 1.60 for B = 8 (→ √e).
    He (g = 1): conv1 keeps the energy per position, the ReLU halves it, conv2 keeps it: (3/2)^{B/2} = 5.1.
    PyTorch's default g (he) doubles it twice: 3^{B/2} = 81. The bands are loose (×1.25, ×1.6, ×4), for
    zero padding at the borders and for the few channels; the three stay apart."""
    blocks = 8
    network = RealNetwork.of("resnet", "cifar10", hidden_size=8, num_blocks=blocks)
    df = model_frame(network, ["orthogonal_proposed", "he_g1", "he"], samples=32, batch_size=32)
    stage_end = df[(df["direction"] == "forward") & (df["layer"] == blocks)].set_index("init")["mean"]
    assert within(stage_end["orthogonal_proposed"], (1 + 1 / blocks) ** (blocks / 2), 1.25), stage_end
    assert within(stage_end["he_g1"], 1.5 ** (blocks / 2), 1.6), stage_end
    assert within(stage_end["he"], 3.0 ** (blocks / 2), 4.0), stage_end


# --- the frame and its inputs ---------------------------------------------------------------------------

def test_frame_has_figure1s_columns_a_row_per_layer_and_the_same_signals_for_every_init():
    network = RealNetwork.of("mlp", "digits", num_layers=3, hidden_size=16)
    df = model_frame(network, ["he", "orthogonal_proposed"], samples=20, seed=3, batch_size=8)
    assert list(df.columns[:8]) == ["network", "width", "init", "direction", "layer", "mean", "std", "samples"]
    assert len(df) == 2 * (3 + 2)  # forward l = 1..3, backward l = 1..2, per init
    assert set(df["layer_name"]) == {"relu1", "relu2", "relu3"} and set(df["model"]) == {"mlp-3x16"}
    x_few, delta_few, _ = signals(network, 5, seed=3)
    x_many, delta_many, _ = signals(network, 20, seed=3)
    np.testing.assert_array_equal(x_few, x_many[:5])
    np.testing.assert_array_equal(delta_few, delta_many[:5])


def test_he_g1_sets_every_g_to_1_and_datadep_standardizes_the_first_layer():
    network = RealNetwork.of("mlp", "digits", num_layers=2, hidden_size=16)
    x, _, batch = signals(network, 4, seed=0)
    assert batch.shape == (DATADEP_BATCH, 8, 8, 1)
    for layer in weight_normalized_layers(build_at_init(network, "he_g1", 0, batch)):
        np.testing.assert_array_equal(np.asarray(layer.g), 1.0)
    model = build_at_init(network, "he_datadep", 0, batch)
    first = np.asarray(keras.Model(model.input, model.get_layer("hidden1").output)(batch))
    np.testing.assert_allclose(first.std(axis=0), 1.0, rtol=1e-3)


def test_real_inputs_are_the_validation_examples():
    """Real inputs are the study's own: its seeded validation split (10% of digits' 1,497 pooled training
    examples: 149) and the first training examples, preprocessed as a run preprocesses them."""
    from lib.studies.weightnorm.config import WeightnormConfig
    from lib.studies.weightnorm.run import load_data

    network = RealNetwork.of("mlp", "digits", num_layers=1, hidden_size=4)
    x, delta, batch = signals(network, 30, seed=0, inputs="real")
    data = load_data(WeightnormConfig(dataset="digits", seed=0))
    np.testing.assert_array_equal(x, data.validation.x[:30])
    np.testing.assert_array_equal(batch, data.train.x[:DATADEP_BATCH])
    assert delta.shape == (30, 10)
    with pytest.raises(UsageError, match="validation split has 149"):
        signals(network, 150, seed=0, inputs="real")


@pytest.mark.parametrize("nn,dataset,sizes,message", [
    ("mlp", None, {"num_blocks": 2}, "--num_blocks does not apply to --nn mlp"),
    ("resnet", "mnist1d", {}, "only --nn mlp"),
    ("mlp", "imagenet", {}, "unknown dataset"),
])
def test_bad_networks_are_usage_errors(nn, dataset, sizes, message):
    with pytest.raises(UsageError, match=message):
        RealNetwork.of(nn, dataset, **sizes)
