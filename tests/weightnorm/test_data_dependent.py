"""The data-dependent init (lib.studies.weightnorm.data_dependent): after it, every WN layer's
pre-activation has mean 0 and standard deviation 1 per unit on the init batch, through ReLUs and
residual sums, for Dense and Conv2D layers."""

import keras
import numpy as np

from lib.studies.weightnorm.data_dependent import data_dependent_init, weight_normalized_layers
from models.weight_norm import WeightNormConv2D, WeightNormDense

TOLERANCE = 1e-4  # float32 forward passes of O(1) values: mean within 1e-4, std within 1e-4 of 1


def residual_mlp():
    inputs = keras.Input((12,))
    h = WeightNormDense(16, v_initializer=keras.initializers.RandomNormal(seed=1), name="first")(inputs)
    h = keras.layers.ReLU()(h)
    branch = keras.layers.ReLU()(WeightNormDense(16, v_initializer=keras.initializers.RandomNormal(seed=2), name="a")(h))
    branch = WeightNormDense(16, v_initializer=keras.initializers.RandomNormal(seed=3), name="b")(branch)
    h = keras.layers.Add()([h, branch])  # the next layer sees the sum of both paths
    outputs = WeightNormDense(5, v_initializer=keras.initializers.RandomNormal(seed=4), name="last")(h)
    return keras.Model(inputs, outputs)


def small_cnn():
    inputs = keras.Input((8, 8, 3))
    h = WeightNormConv2D(6, 3, padding="same", v_initializer=keras.initializers.RandomNormal(seed=5), name="c1")(inputs)
    h = keras.layers.ReLU()(h)
    h = WeightNormConv2D(4, 3, strides=2, padding="same", v_initializer=keras.initializers.RandomNormal(seed=6),
                         name="c2")(h)
    return keras.Model(inputs, h)


def assert_standardized(model, batch):
    for layer in weight_normalized_layers(model):
        pre_activation = keras.ops.convert_to_numpy(keras.Model(model.input, layer.output)(batch, training=False))
        axes = tuple(range(pre_activation.ndim - 1))
        np.testing.assert_allclose(pre_activation.mean(axis=axes), 0.0, atol=TOLERANCE, err_msg=layer.name)
        np.testing.assert_allclose(pre_activation.std(axis=axes), 1.0, atol=TOLERANCE, err_msg=layer.name)


def test_every_dense_pre_activation_is_standardized_through_a_residual_sum():
    model = residual_mlp()
    batch = np.random.default_rng(0).normal(2.0, 3.0, (64, 12)).astype("float32")  # off-centre, wide
    statistics = data_dependent_init(model, batch)
    assert [row["layer"] for row in statistics] == ["first", "a", "b", "last"]
    assert not np.allclose(statistics[0]["std"], 1.0)  # the raw pre-activations were not standardized already
    assert_standardized(model, batch)


def test_conv_pre_activations_are_standardized_over_batch_and_positions():
    model = small_cnn()
    batch = np.random.default_rng(1).uniform(0, 1, (16, 8, 8, 3)).astype("float32")
    data_dependent_init(model, batch)
    assert_standardized(model, batch)


def test_g_and_bias_are_one_over_sigma_and_minus_mu_over_sigma():
    model = residual_mlp()
    batch = np.random.default_rng(2).normal(size=(32, 12)).astype("float32")
    statistics = data_dependent_init(model, batch)
    first = model.get_layer("first")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.g), 1.0 / statistics[0]["std"], rtol=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.bias), -statistics[0]["mean"] / statistics[0]["std"],
                               rtol=1e-5, atol=1e-7)
