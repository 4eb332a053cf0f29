"""lib.backend.hessian_vector on a small MLP: against finite differences of the gradient, symmetric,
batch-weighted, and the same on TensorFlow and JAX (via tests/scripts/hessian_vector_check.py)."""

import keras
import numpy as np
import pytest

from lib.backend.hessian_vector import HessianVectorProduct
from lib.environment import active_backend
from tests.helpers import run_script


def small_model():
    rng = np.random.default_rng(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, activation="tanh"), keras.layers.Dense(3)])
    model.set_weights([rng.normal(0, 0.5, w.shape).astype("float32") for w in model.get_weights()])
    x = rng.normal(size=(20, 8)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 20)]
    return model, keras.losses.CategoricalCrossentropy(from_logits=True), x, y


def gradient(model, loss, x, y, flat):
    if keras.backend.backend() == "jax":
        import jax

        weights = [v.value for v in model.trainable_variables]
        frozen = [v.value for v in model.non_trainable_variables]
        grads = jax.grad(lambda w: loss(y, model.stateless_call(w, frozen, x, training=False)[0]))(weights)
        return flat.join(grads)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=False))
    return flat.join([g.numpy() for g in tape.gradient(value, model.trainable_variables)])


def test_hvp_matches_finite_differences_of_the_gradient_and_is_symmetric():
    model, loss, x, y = small_model()
    hvp = HessianVectorProduct(model, loss, [(x, y)])
    flat = hvp.parameters
    rng = np.random.default_rng(1)
    u, v = rng.standard_normal(flat.size), rng.standard_normal(flat.size)
    weights = flat.join(model.get_weights())  # Dense layers only: every weight is trainable
    epsilon = 2e-3  # float32: truncation ~eps^2, rounding ~1e-7 / eps
    differences = []
    for sign in (1, -1):
        model.set_weights(flat.split(weights + sign * epsilon * v))
        differences.append(gradient(model, loss, x, y, flat))
    model.set_weights(flat.split(weights))
    finite = (differences[0] - differences[1]) / (2 * epsilon)
    product = hvp(v)
    assert np.linalg.norm(product - finite) / np.linalg.norm(finite) < 1e-3
    assert np.dot(u, hvp(v)) == pytest.approx(np.dot(v, hvp(u)), rel=1e-4)


def test_batches_are_weighted_by_size():
    model, loss, x, y = small_model()
    v = np.random.default_rng(2).standard_normal(HessianVectorProduct(model, loss, [(x, y)]).parameters.size)
    whole = HessianVectorProduct(model, loss, [(x, y)])(v)
    parts = HessianVectorProduct(model, loss, [(x[:15], y[:15]), (x[15:], y[15:])])(v)
    np.testing.assert_allclose(parts, whole, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(active_backend() != "tensorflow", reason="one cross-backend comparison per suite pair")
def test_backends_agree_on_the_same_weights(tmp_path):
    results = {}
    for backend in ("tensorflow", "jax"):
        path = tmp_path / f"{backend}.npy"
        result = run_script("hessian_vector_check.py", str(path), env={"KERAS_BACKEND": backend}, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        results[backend] = np.load(path)
    assert np.max(np.abs(results["jax"] - results["tensorflow"])) <= 1e-5 * np.max(np.abs(results["tensorflow"]))


def test_a_product_follows_the_models_current_weights():
    """--hessian_every builds one product per run: after the weights change it must use the new ones."""
    model, loss, x, y = small_model()
    hvp = HessianVectorProduct(model, loss, [(x, y)])
    v = np.random.default_rng(3).standard_normal(hvp.parameters.size)
    before = hvp(v)
    model.set_weights([1.5 * w for w in model.get_weights()])
    after = hvp(v)
    np.testing.assert_allclose(after, HessianVectorProduct(model, loss, [(x, y)])(v), rtol=1e-6, atol=1e-9)
    assert np.max(np.abs(after - before)) > 1e-2 * np.max(np.abs(before))
