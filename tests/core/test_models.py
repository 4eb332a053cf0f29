"""Feedforward builder: stable layer names, observable pre-activations, per-layer seeded init (reference/glorot.md §1.3)."""

import math

import keras
import numpy as np
import pytest

from lib import initializers
from models import MODELS

INPUT_DIM, NUM_CLASSES, UNITS = 12, 5, 16

# The paper's activations (§2.3) plus relu, written out here independently of Keras.
ACTIVATIONS = {
    "sigmoid": lambda s: 1 / (1 + np.exp(-s)),
    "tanh": np.tanh,
    "softsign": lambda s: s / (1 + np.abs(s)),
    "relu": lambda s: np.maximum(s, 0),
}

# float32 arithmetic on O(1) values with fan-in <= 16: rounding is ~1e-6; 1e-5 leaves room
# for a different summation order, while a wrong function is off by >= 1e-2 somewhere.
ATOL = 1e-5


def build(hidden_layers=3, activation="tanh", initializer="standard", seed=0, **kwargs):
    return MODELS.build("feedforward", (INPUT_DIM,), NUM_CLASSES, hidden_layers=hidden_layers, units=UNITS,
                        activation=activation, initializer=initializer, seed=seed, **kwargs)


def kernels(model):
    return {layer.name: layer.get_weights()[0] for layer in model.layers if layer.name.startswith("dense_")}


def layer_outputs(model, names, x):
    """Outputs of the named layers on `x`, through one sub-model of the built model."""
    probe = keras.Model(model.input, [model.get_layer(name).output for name in names])
    return [keras.ops.convert_to_numpy(y) for y in probe(x)]


def inputs(count=64, seed=0):
    # Std-3 inputs: first-layer pre-activations have std ~1.7 under the standard init (fan_in·Var[W] = 1/3),
    # of either sign and well into the nonlinear range of every activation.
    return np.random.default_rng(seed).normal(size=(count, INPUT_DIM)).astype(np.float32) * 3


@pytest.mark.parametrize("hidden_layers", [1, 4])
def test_layer_names_and_order(hidden_layers):
    model = build(hidden_layers)
    expected = ["input"]
    for i in range(1, hidden_layers + 1):
        expected += [f"dense_{i}", f"act_{i}"]
    expected += [f"dense_{hidden_layers + 1}", "softmax"]
    assert [layer.name for layer in model.layers] == expected


@pytest.mark.parametrize("hidden_layers", [1, 3])
def test_kernel_bias_and_output_shapes(hidden_layers):
    model = build(hidden_layers)
    widths = [INPUT_DIM] + [UNITS] * hidden_layers + [NUM_CLASSES]
    for i in range(1, hidden_layers + 2):
        kernel, bias = model.get_layer(f"dense_{i}").get_weights()
        assert kernel.shape == (widths[i - 1], widths[i])
        assert bias.shape == (widths[i],)
        np.testing.assert_array_equal(bias, 0)  # the paper's "biases initialized to 0"
    assert model.output.shape == (None, NUM_CLASSES)
    assert model.input.shape == (None, INPUT_DIM)


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_dense_layers_are_linear_and_activation_layers_apply_the_function(activation):
    hidden_layers = 3
    model = build(hidden_layers, activation=activation)
    x = inputs()
    names = [name for i in range(1, hidden_layers + 2)
             for name in (f"dense_{i}", f"act_{i}" if i <= hidden_layers else "softmax")]
    outputs = dict(zip(names, layer_outputs(model, names, x)))
    previous = x
    for i in range(1, hidden_layers + 2):
        kernel, bias = model.get_layer(f"dense_{i}").get_weights()
        pre = outputs[f"dense_{i}"]
        # The Dense output is the affine map alone: no activation folded in.
        np.testing.assert_allclose(pre, previous @ kernel + bias, atol=ATOL)
        if i <= hidden_layers:
            # Both signs occur, so relu (or any squashing) is distinguishable from the identity.
            assert (pre < -0.05).any() and (pre > 0.05).any()
            post = outputs[f"act_{i}"]
            np.testing.assert_allclose(post, ACTIVATIONS[activation](pre), atol=ATOL)
            previous = post
    logits = outputs[f"dense_{hidden_layers + 1}"]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(outputs["softmax"], expected / expected.sum(axis=1, keepdims=True), atol=ATOL)


def test_softmax_outputs_are_probabilities():
    model = build(2, initializer="normalized")
    probabilities = keras.ops.convert_to_numpy(model(inputs(count=32)))
    assert (probabilities >= 0).all()
    # Five float32 terms near 0.2 each: the sum is exact to a few ulp (~1e-7).
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_hidden_kernels_of_equal_shape_differ():
    weights = kernels(build(4))
    for a, b in [("dense_2", "dense_3"), ("dense_2", "dense_4"), ("dense_3", "dense_4")]:
        assert weights[a].shape == weights[b].shape == (UNITS, UNITS)
        # Independent continuous draws: equal floats are ~1e-7 events, and the correlation of
        # 256 independent pairs is ~N(0, 1/16); 0.25 is four standard deviations.
        assert np.mean(weights[a] == weights[b]) < 0.01
        assert abs(np.corrcoef(weights[a].ravel(), weights[b].ravel())[0, 1]) < 0.25


@pytest.mark.parametrize("name", ["standard", "normalized", "xavier_init_random"])
def test_each_dense_layer_gets_the_registry_initializer_for_its_index(name):
    seed = 11
    weights = kernels(build(2, initializer=name, seed=seed))
    for i in (1, 2, 3):
        kernel = weights[f"dense_{i}"]
        expected = keras.ops.convert_to_numpy(initializers.make(name, seed, i)(kernel.shape))
        np.testing.assert_array_equal(kernel, expected)


def test_initializer_choice_sets_the_kernel_scale():
    # 16 -> 16 kernels: standard bound 1/sqrt(16) = 0.25, normalized sqrt(6/32) = 0.433.
    # 256 draws from U[-0.433, 0.433] all inside ±0.25 has probability 0.577^256 ~ 1e-61.
    standard = kernels(build(2, initializer="standard"))["dense_2"]
    normalized = kernels(build(2, initializer="normalized"))["dense_2"]
    assert np.abs(standard).max() <= 0.25 * (1 + 1e-6)
    assert 0.25 < np.abs(normalized).max() <= math.sqrt(6 / 32) * (1 + 1e-6)


def test_same_seed_gives_identical_weights_and_another_seed_does_not():
    first, again, other = build(3, seed=5), build(3, seed=5), build(3, seed=6)
    for a, b in zip(first.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(kernels(first)["dense_1"], kernels(other)["dense_1"])


def test_tiny_build_uses_the_tiny_override():
    assert MODELS.entry("feedforward").tiny == {"hidden_layers": 2, "units": 16}
    model = MODELS.build("feedforward", (INPUT_DIM,), NUM_CLASSES, hidden_layers=2, units=1000, tiny=True)
    widths = [model.get_layer(f"dense_{i}").get_weights()[0].shape for i in (1, 2, 3)]
    assert widths == [(INPUT_DIM, 16), (16, 16), (16, NUM_CLASSES)]

