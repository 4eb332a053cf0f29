"""The weight-normalized layers (models/weight_norm.py; reference/weightnorm_abc.md §A4): the effective
kernel g·v/‖v‖ on the right axes, autodiff gradients against finite differences, PyTorch's default
g = ‖v‖, save/load and run-checkpoint round trips. Run once per backend (KERAS_BACKEND)."""

import contextlib

import keras
import numpy as np
import pytest

from lib.initializers import INITIALIZERS, layer_seed
from lib.runs.checkpoint import load_checkpoint, save_checkpoint
from models.weight_norm import WeightNormConv2D, WeightNormDense

DENSE_INPUT, CONV_INPUT = (6,), (7, 7, 3)  # one example's shape; small, and in != out so a wrong norm axis shows
FLOAT32_RTOL = 1e-6  # a few float32 roundings (eps = 1.2e-7) of one product, quotient and sum of squares


def as_numpy(tensor) -> np.ndarray:
    return keras.ops.convert_to_numpy(tensor)


def random_gain(seed: int):
    """g away from ‖v‖ and from 1, so that a kernel computed without g, or without the norm, differs."""
    return keras.initializers.RandomUniform(0.5, 2.0, seed=seed)


def built(layer, example_shape, dtype="float32"):
    layer(np.zeros((1, *example_shape), dtype=dtype))
    return layer


def reference_kernel(v: np.ndarray, g: np.ndarray) -> np.ndarray:
    """g·v/‖v‖ in float64 NumPy, the norm per output unit over every axis but the last."""
    v = v.astype(np.float64)
    return g.astype(np.float64) * v / np.sqrt(np.sum(v**2, axis=tuple(range(v.ndim - 1))))


LAYERS = {
    "dense": (lambda **kw: WeightNormDense(4, **kw), DENSE_INPUT),
    "conv": (lambda **kw: WeightNormConv2D(5, 3, strides=2, padding="same", **kw), CONV_INPUT),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_effective_kernel_is_g_times_v_over_its_norm_per_output_unit(kind):
    make, example_shape = LAYERS[kind]
    layer = built(make(v_initializer="random_normal", g_initializer=random_gain(1)), example_shape)
    v, g, kernel = as_numpy(layer.v), as_numpy(layer.g), as_numpy(layer.effective_kernel())
    assert v.shape == ((6, 4) if kind == "dense" else (3, 3, 3, 5)) and g.shape == (v.shape[-1],)
    np.testing.assert_allclose(kernel, reference_kernel(v, g), rtol=FLOAT32_RTOL, atol=0)
    # The defining properties, independent of the formula's spelling: output unit j's kernel has norm g_j
    # (over the input axes, not over the units) and points along v[..., j].
    columns = kernel.reshape(-1, v.shape[-1]).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(columns, axis=0), g, rtol=FLOAT32_RTOL)
    cosines = np.sum(columns * v.reshape(columns.shape), axis=0) / (np.linalg.norm(columns, axis=0)
                                                                   * np.linalg.norm(v.reshape(columns.shape), axis=0))
    np.testing.assert_allclose(cosines, 1.0, rtol=FLOAT32_RTOL)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_output_is_the_plain_layer_with_the_effective_kernel(kind):
    make, example_shape = LAYERS[kind]
    layer = built(make(v_initializer="random_normal", g_initializer=random_gain(2), bias_initializer="random_normal"),
                  example_shape)
    kernel, bias = as_numpy(layer.effective_kernel()), as_numpy(layer.bias)
    plain = (keras.layers.Dense(4) if kind == "dense" else keras.layers.Conv2D(5, 3, strides=2, padding="same"))
    built(plain, example_shape).set_weights([kernel, bias])
    x = np.random.default_rng(0).normal(size=(3, *example_shape)).astype(np.float32)
    # Same kernel, same op: equal to float32 rounding (measured: bit for bit on TF and JAX).
    np.testing.assert_allclose(as_numpy(layer(x)), as_numpy(plain(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_pytorch_default_gain_makes_the_layer_the_unnormalized_one_with_kernel_v(kind):
    # g_initializer=None: g = ‖v‖ at init (PyTorch's weight_norm), so w = v and the layer is the plain
    # layer with kernel v. g/‖v‖ is 1 up to the rounding of two float32 norms computed the same way,
    # so w and the outputs agree with v's to a few float32 ulps (measured: bit for bit on TF and JAX).
    make, example_shape = LAYERS[kind]
    layer = built(make(v_initializer=INITIALIZERS.build("kaiming_normal", seed=layer_seed(0, 1)),
                       bias_initializer="random_normal"), example_shape)
    v, g = as_numpy(layer.v), as_numpy(layer.g)
    np.testing.assert_allclose(g, np.linalg.norm(v.reshape(-1, v.shape[-1]).astype(np.float64), axis=0), rtol=FLOAT32_RTOL)
    np.testing.assert_allclose(as_numpy(layer.effective_kernel()), v, rtol=4 * np.finfo(np.float32).eps, atol=0)
    plain = (keras.layers.Dense(4) if kind == "dense" else keras.layers.Conv2D(5, 3, strides=2, padding="same"))
    built(plain, example_shape).set_weights([v, as_numpy(layer.bias)])
    x = np.random.default_rng(1).normal(size=(3, *example_shape)).astype(np.float32)
    np.testing.assert_allclose(as_numpy(layer(x)), as_numpy(plain(x)), rtol=1e-5, atol=1e-6)


# --- gradients -------------------------------------------------------------------------------------

@contextlib.contextmanager
def float64_enabled():
    """JAX computes in float32 unless x64 is on; TensorFlow honours float64 layers as they are."""
    if keras.backend.backend() == "jax":
        import jax

        with jax.enable_x64(True):
            yield
    else:
        yield


def autodiff_gradients(layer, x, cotangent) -> list[np.ndarray]:
    """d⟨cotangent, layer(x)⟩ / d(each trainable variable) by the running backend's autodiff."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x) * cotangent)
        return [as_numpy(gradient) for gradient in tape.gradient(loss, layer.trainable_variables)]
    import jax

    def loss(values):
        outputs, _ = layer.stateless_call(values, layer.non_trainable_variables, x)
        return jax.numpy.sum(outputs * cotangent)

    return [np.asarray(gradient) for gradient in jax.grad(loss)([variable.value for variable in layer.trainable_variables])]


def finite_difference_gradients(layer, x, cotangent, step: float) -> list[np.ndarray]:
    """Central differences (L(θ + h e_i) − L(θ − h e_i)) / 2h of the same loss, one entry at a time."""
    gradients = []
    for variable in layer.trainable_variables:
        base = as_numpy(variable).copy()
        gradient = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            losses = []
            for shift in (step, -step):
                shifted = base.copy()
                shifted[index] += shift
                variable.assign(shifted)
                losses.append(float(np.sum(as_numpy(layer(x)) * cotangent)))
            gradient[index] = (losses[0] - losses[1]) / (2 * step)
        variable.assign(base)
        gradients.append(gradient)
    return gradients


FD_LAYERS = {  # tiny, so that one forward pass per perturbed entry stays cheap (21 and 60 entries)
    "dense": (lambda **kw: WeightNormDense(3, **kw), (5,)),
    "conv": (lambda **kw: WeightNormConv2D(3, 3, padding="same", **kw), (5, 5, 2)),
}
FD_STEP = 1e-5  # float64, ‖v‖ ~ 2-5: truncation ~ (h/‖v‖)² and rounding ~ 1e-16·|L|/h are both ~ 1e-11
FD_RTOL = 1e-8  # of the largest gradient entry; measured worst 1.3e-10 (TF and JAX); a wrong gradient is off by O(1)


@pytest.mark.parametrize("kind", sorted(FD_LAYERS))
def test_gradients_with_respect_to_v_g_and_bias_match_central_differences(kind):
    make, example_shape = FD_LAYERS[kind]
    rng = np.random.default_rng(3)
    with float64_enabled():
        layer = make(dtype="float64", v_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=4), g_initializer=random_gain(5),
                     bias_initializer=keras.initializers.RandomNormal(seed=6))
        x = rng.normal(size=(2, *example_shape))
        cotangent = rng.normal(size=tuple(layer(x).shape))
        assert layer.v.dtype == "float64"
        exact = autodiff_gradients(layer, x, cotangent)
        approximate = finite_difference_gradients(layer, x, cotangent, FD_STEP)
    assert [variable.name for variable in layer.trainable_variables] == ["v", "g", "bias"]
    for name, autodiff, numeric in zip(("v", "g", "bias"), exact, approximate):
        scale = np.max(np.abs(autodiff))
        assert scale > 0.1, name  # a non-trivial gradient
        error = np.max(np.abs(autodiff - numeric))
        assert error <= FD_RTOL * scale, f"{name}: max |autodiff - central difference| = {error:.2e} (scale {scale:.2e})"


# --- saving and resuming ---------------------------------------------------------------------------

def small_network(seed: int) -> keras.Model:
    """WN conv -> ReLU -> WN dense, with registry inits, a proposed gain and weight decay on every parameter."""
    from lib.initializers.weight_norm import proposed_gain

    inputs = keras.Input(CONV_INPUT)
    x = WeightNormConv2D(4, 3, strides=2, v_initializer=INITIALIZERS.build("orthogonal", seed=layer_seed(seed, 1)),
                         g_initializer=proposed_gain((3, 3, 3, 4), 2.0), v_regularizer=keras.regularizers.L2(1e-4),
                         g_regularizer=keras.regularizers.L2(1e-4), name="wn_conv")(inputs)
    x = keras.layers.Activation("relu", name="act_1")(keras.layers.Flatten(name="flatten")(x))
    outputs = WeightNormDense(3, v_initializer=INITIALIZERS.build("kaiming_normal", seed=layer_seed(seed, 2)),
                              bias_regularizer=keras.regularizers.L2(1e-4), name="wn_dense")(x)
    return keras.Model(inputs, outputs, name="wn_network")


def moved_off_init(model: keras.Model, seed: int) -> keras.Model:
    """Every variable replaced by random values, so that a reload must restore them, not re-initialize."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(size=w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def test_save_and_load_model_round_trip_bit_for_bit(tmp_path):
    model = moved_off_init(small_network(seed=0), seed=10)
    path = str(tmp_path / "wn.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert [type(layer) for layer in loaded.layers] == [type(layer) for layer in model.layers]
    for layer_name in ("wn_conv", "wn_dense"):
        assert loaded.get_layer(layer_name).get_config() == model.get_layer(layer_name).get_config()
    assert [v.path for v in loaded.variables] == [v.path for v in model.variables]
    for saved, restored in zip(model.variables, loaded.variables, strict=True):
        np.testing.assert_array_equal(as_numpy(restored), as_numpy(saved))
    x = np.random.default_rng(11).normal(size=(4, *CONV_INPUT)).astype(np.float32)
    np.testing.assert_array_equal(as_numpy(loaded(x)), as_numpy(model(x)))
    # The configured inits and weight decay came back too (a fresh build from the config draws the same init).
    assert len(loaded.losses) == 3
    proposed = np.full(4, np.sqrt(2 * 27 / 36), dtype=np.float32)  # √(γ·fan_in/fan_out) of the 3×3, 3 -> 4 conv
    np.testing.assert_array_equal(as_numpy(loaded.get_layer("wn_conv").g_initializer((4,))), proposed)


def test_run_checkpoint_restores_v_and_g_of_a_trained_network(tmp_path):
    model = small_network(seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(8, *CONV_INPUT)).astype(np.float32), rng.normal(size=(8, 3)).astype(np.float32)
    model.train_on_batch(x, y)
    assert {v.path for v in model.variables} >= {"wn_conv/v", "wn_conv/g", "wn_dense/v", "wn_dense/g", "wn_dense/bias"}
    save_checkpoint(str(tmp_path), model, epoch=1)
    resumed = small_network(seed=1)  # a different init: everything must come from the checkpoint
    resumed.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    assert load_checkpoint(str(tmp_path), resumed) == 1
    for saved, restored in zip(model.variables + model.optimizer.variables,
                               resumed.variables + resumed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(as_numpy(restored), as_numpy(saved))
    np.testing.assert_array_equal(as_numpy(resumed(x)), as_numpy(model(x)))


def test_invalid_conv_arguments_are_refused():
    with pytest.raises(ValueError, match="padding"):
        WeightNormConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match="pair"):
        WeightNormConv2D(4, (3, 3, 3))
