"""ScaledLearningRate: per-variable learning-rate scales around a Keras optimizer, the stand-in for the
reference's one-parameter-group-per-layer SGD (reference/weightnorm_abc.md §B1), with IP-LLR's warm-up
switch (§B2 `WarmupSwitchLR`).

The property: the wrapper updates each variable exactly as the inner optimizer would with the learning
rate lr·scale — checked against one separate optimizer per variable (a parameter group each), eagerly
and inside `model.fit`'s compiled step, on SGD (plain, momentum, clipped), Adam and RMSprop.
"""

import keras
import numpy as np
import pytest
from keras import ops

from lib.optimizers.scaled_lr import ScaledLearningRate
from lib.runs.checkpoint import load_checkpoint, save_checkpoint

INPUT_DIM, UNITS = 4, 3
# Scales spread over eight orders of magnitude, as IP-LLR's are.
SCALES = {"a/kernel": 3.0, "a/bias": 0.5, "b/kernel": 1e3, "b/bias": 1e-5}
WARMUP_SCALES = {"a/kernel": 40.0, "a/bias": 2.0, "b/kernel": 1e5, "b/bias": 1.0}
OPTIMIZERS = {
    "sgd": lambda lr=0.1: keras.optimizers.SGD(lr),
    "sgd_momentum": lambda lr=0.1: keras.optimizers.SGD(lr, momentum=0.9),
    "sgd_clipnorm": lambda lr=0.1: keras.optimizers.SGD(lr, clipnorm=0.5),
    "adam": lambda lr=1e-3: keras.optimizers.Adam(lr),
    "rmsprop": lambda lr=1e-3: keras.optimizers.RMSprop(lr, momentum=0.5),
}
# float32 throughout; the wrapper forms lr·scale in float32, a separate optimizer stores the product of
# Python floats: one rounding apart (~1e-7 relative), compounded over a few steps.
RTOL = 1e-5


def parallel_model(seed=0):
    """out = a(x) + b(x): two Dense layers whose variables are the groups."""
    inputs = keras.Input((INPUT_DIM,), name="input")
    a = keras.layers.Dense(UNITS, name="a", kernel_initializer=keras.initializers.RandomNormal(seed=seed),
                           bias_initializer=keras.initializers.RandomNormal(seed=seed + 1))(inputs)
    b = keras.layers.Dense(UNITS, name="b", kernel_initializer=keras.initializers.RandomNormal(seed=seed + 2),
                           bias_initializer=keras.initializers.RandomNormal(seed=seed + 3))(inputs)
    return keras.Model(inputs, keras.layers.Add(name="out")([a, b]))


def group_optimizers(make, variables, scales_per_step, step):
    """One optimizer per variable (a parameter group), with the rate lr·scale of `step`."""
    optimizers = []
    for variable in variables:
        optimizer = make()
        optimizer.learning_rate = float(optimizer.learning_rate) * scales_per_step(step)[variable.path]
        optimizer.build([variable])
        optimizers.append(optimizer)
    return optimizers


def values(variables):
    return [ops.convert_to_numpy(v) for v in variables]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_each_variable_moves_as_the_inner_optimizer_with_its_scaled_rate(name):
    make = OPTIMIZERS[name]
    model, reference = parallel_model(), parallel_model()
    wrapper = ScaledLearningRate(make(), SCALES)
    groups = group_optimizers(make, reference.trainable_variables, lambda step: SCALES, 0)
    rng = np.random.default_rng(0)
    for _ in range(4):
        grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
        wrapper.apply(grads, model.trainable_variables)
        for optimizer, variable, grad in zip(groups, reference.trainable_variables, grads):
            optimizer.apply([grad], [variable])
    assert int(wrapper.iterations) == 4
    for got, want in zip(values(model.trainable_variables), values(reference.trainable_variables)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)
    moved = [np.abs(g - w).max() for g, w in zip(values(model.trainable_variables), values(parallel_model().trainable_variables))]
    assert all(m > 0 for m in moved)


def mean_output(y_true, y_pred):
    """A loss with a constant gradient: dL/dW = mean(x)/UNITS, dL/db = 1/UNITS for both layers."""
    return ops.mean(y_pred, axis=-1)


def constant_gradients(x, variables):
    return [np.broadcast_to(x.mean(axis=0)[:, None] / UNITS, v.shape).astype("float32") if len(v.shape) == 2
            else np.full(v.shape, 1 / UNITS, "float32") for v in variables]


@pytest.mark.parametrize("name", ["sgd_momentum", "adam"])
@pytest.mark.parametrize("n_warmup_steps", [0, 2])
def test_fit_with_the_warmup_switch_matches_separate_groups(name, n_warmup_steps):
    """Inside `model.fit`'s compiled step: steps 1..n_warmup_steps use WARMUP_SCALES, later ones SCALES
    (§B2: the reference switches after n_warmup_steps optimizer steps). With a constant gradient the
    reference is eager separate optimizers whose rate is set before each step."""
    make, steps = OPTIMIZERS[name], 5
    x = np.random.default_rng(1).normal(size=(8, INPUT_DIM)).astype("float32")
    model, reference = parallel_model(), parallel_model()
    warmup = WARMUP_SCALES if n_warmup_steps else None
    model.compile(optimizer=ScaledLearningRate(make(), SCALES, warmup_scales=warmup, n_warmup_steps=n_warmup_steps),
                  loss=mean_output)
    model.fit(x, np.zeros((8, UNITS), "float32"), batch_size=8, epochs=steps, shuffle=False, verbose=0)

    def scales_at(step):
        return WARMUP_SCALES if step < n_warmup_steps else SCALES

    groups = group_optimizers(make, reference.trainable_variables, scales_at, 0)
    grads = constant_gradients(x, reference.trainable_variables)
    for step in range(steps):
        for optimizer, variable, grad in zip(groups, reference.trainable_variables, grads):
            optimizer.learning_rate = float(make().learning_rate) * scales_at(step)[variable.path]
            optimizer.apply([grad], [variable])
    assert int(model.optimizer.iterations) == steps
    for got, want in zip(values(model.trainable_variables), values(reference.trainable_variables)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def test_warmup_switch_changes_the_step():
    """Plain SGD on a constant gradient: the first step moves b/kernel by lr·1e5·g, the next by lr·1e3·g."""
    x = np.random.default_rng(2).normal(size=(8, INPUT_DIM)).astype("float32")
    model = parallel_model()
    model.compile(optimizer=ScaledLearningRate(keras.optimizers.SGD(0.1), SCALES, warmup_scales=WARMUP_SCALES,
                                               n_warmup_steps=1), loss=mean_output)
    kernel = model.get_layer("b").kernel
    gradient = constant_gradients(x, [kernel])[0]
    history = [ops.convert_to_numpy(kernel)]
    for _ in range(2):
        model.fit(x, np.zeros((8, UNITS), "float32"), batch_size=8, epochs=1, verbose=0)
        history.append(ops.convert_to_numpy(kernel))
    np.testing.assert_allclose(history[0] - history[1], 0.1 * 1e5 * gradient, rtol=1e-4)
    np.testing.assert_allclose(history[1] - history[2], 0.1 * 1e3 * gradient, rtol=1e-3)


def test_checkpoint_resume_continues_the_optimizer_and_the_warmup(tmp_path):
    """The run checkpoint (lib/runs/checkpoint.py) saves optimizer.variables: Adam's moments and the step
    counter come back, so 2 + 2 steps with a save and restore between equal 4 steps, the warm-up (3
    steps) ending after the restore."""
    x = np.random.default_rng(3).normal(size=(8, INPUT_DIM)).astype("float32")
    y = np.zeros((8, UNITS), "float32")

    def compiled():
        model = parallel_model()
        model.compile(optimizer=ScaledLearningRate(keras.optimizers.Adam(1e-2), SCALES, warmup_scales=WARMUP_SCALES,
                                                   n_warmup_steps=3), loss="mse")
        return model

    straight = compiled()
    straight.fit(x, y, batch_size=8, epochs=4, verbose=0)
    first = compiled()
    first.fit(x, y, batch_size=8, epochs=2, verbose=0)
    save_checkpoint(str(tmp_path), first, 2)
    resumed = compiled()
    assert load_checkpoint(str(tmp_path), resumed) == 2
    assert int(resumed.optimizer.iterations) == 2
    resumed.fit(x, y, batch_size=8, epochs=2, verbose=0)
    for got, want in zip(values(resumed.trainable_variables), values(straight.trainable_variables)):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-6)


def test_serialization_round_trip(tmp_path):
    wrapper = ScaledLearningRate(keras.optimizers.Adam(2e-3, beta_1=0.8), SCALES, warmup_scales=WARMUP_SCALES,
                                 n_warmup_steps=2)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(wrapper))
    assert isinstance(restored, ScaledLearningRate) and isinstance(restored.inner_optimizer, keras.optimizers.Adam)
    assert restored.get_config() == wrapper.get_config()
    assert restored.inner_optimizer.beta_1 == 0.8 and float(restored.learning_rate) == pytest.approx(2e-3)

    model = parallel_model()
    model.compile(optimizer=wrapper, loss="mse")
    x = np.random.default_rng(4).normal(size=(8, INPUT_DIM)).astype("float32")
    model.fit(x, np.zeros((8, UNITS), "float32"), batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, custom_objects={"mean_output": mean_output})
    assert isinstance(loaded.optimizer, ScaledLearningRate) and int(loaded.optimizer.iterations) == 2
    for got, want in zip(values(loaded.optimizer.variables), values(model.optimizer.variables)):
        np.testing.assert_array_equal(got, want)


def test_refusals():
    model = parallel_model()
    with pytest.raises(ValueError, match="no learning-rate scale for \\['b/bias'\\]"):
        ScaledLearningRate(keras.optimizers.SGD(0.1), {k: v for k, v in SCALES.items() if k != "b/bias"}).build(
            model.trainable_variables)
    with pytest.raises(ValueError, match="weight_decay"):
        ScaledLearningRate(keras.optimizers.AdamW(1e-3, weight_decay=0.01), SCALES)
    with pytest.raises(ValueError, match="go together"):
        ScaledLearningRate(keras.optimizers.SGD(0.1), SCALES, warmup_scales=WARMUP_SCALES)
    with pytest.raises(ValueError, match="same variables"):
        ScaledLearningRate(keras.optimizers.SGD(0.1), SCALES, warmup_scales={"a/kernel": 1.0}, n_warmup_steps=1)
    built = keras.optimizers.SGD(0.1)
    built.build(model.trainable_variables)
    with pytest.raises(ValueError, match="before it is built"):
        ScaledLearningRate(built, SCALES)
