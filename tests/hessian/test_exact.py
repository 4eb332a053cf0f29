"""lib.hessian.analysis on a network's real loss Hessian, against its exact eigendecomposition: a small
MNIST-1D MLP (40 -> 24 -> 10, 1,234 parameters, trained a few epochs so the spectrum has outliers and
negative eigenvalues), cross-entropy on logits, 200 test examples. The issue's 40 -> 200 -> 10 network
(10,210 parameters) is measured the same way from the command line (docs/hessian.md); the suite uses a
smaller one to keep the full matrix and its eigh quick."""

import keras
import numpy as np
import pytest

from lib.datasets import DATASETS
from lib.hessian.analysis import ALL, HessianSettings, analyze
from lib.hessian.subject import HessianSubject, layer_blocks


@pytest.fixture(scope="module")
def result():
    splits = DATASETS.build("mnist1d", seed=0, num_samples=1500)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((40,)), keras.layers.Dense(24, activation="relu", name="hidden"),
                              keras.layers.Dense(10, name="logits")])
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss=loss)
    model.fit(splits.train.x, splits.train.y, batch_size=100, epochs=5, verbose=0)
    subject = HessianSubject(model, loss, splits.test.head(200), epoch=5)
    settings = HessianSettings(top_k=5, probes=8, lanczos_steps=80, per_layer=True, exact=True, seed=3)
    # blocks by layer name (a Sequential model's variable paths start with the model's name)
    return {spectrum.name.rpartition("/")[2]: spectrum for spectrum in analyze(subject, settings, lambda line: None)}


def by_magnitude(values, k):
    return values[np.argsort(-np.abs(values))][:k]


def test_top_five_eigenvalues_within_1e_3_of_the_exact_ones(result):
    whole = result[ALL]
    exact = whole.exact_eigenvalues
    assert whole.size == 40 * 24 + 24 + 24 * 10 + 10 and len(exact) == whole.size
    assert (exact < -1e-6).any()  # an indefinite Hessian: power iteration must rank by magnitude
    np.testing.assert_allclose(whole.eigenvalues, by_magnitude(exact, 5), rtol=1e-3)


def test_hutchinson_trace_within_three_standard_errors_of_the_exact_trace(result):
    whole = result[ALL]
    assert abs(whole.trace - np.sum(whole.exact_eigenvalues)) <= 3 * whole.trace_standard_error


def test_slq_moments_match_the_exact_spectrum(result):
    """Each probe's quadrature sum_i w_i theta_i^p is v^T H^p v for its unit Rademacher vector v: an unbiased
    estimate of tr(H^p) / n. Tolerance: four standard deviations of the 8-probe mean, from the exact
    variance of a Rademacher quadratic form, Var(z^T A z) = 2 (||A||_F^2 - sum_i A_ii^2)."""
    whole = result[ALL]
    exact = whole.exact_eigenvalues
    np.testing.assert_allclose(whole.ritz_weights.sum(axis=1), 1.0, rtol=1e-6)
    for power in (1, 2):
        estimates = np.sum(whole.ritz_weights * whole.ritz_values ** power, axis=1)
        exact_moment = np.mean(exact ** power)
        spread = np.std(exact ** power)  # bounds sqrt(2 (||A||_F^2 - sum A_ii^2)) / n for A = H^p, n = size
        bound = 4 * np.sqrt(2) * spread / np.sqrt(whole.size) / np.sqrt(len(estimates))
        assert abs(np.mean(estimates) - exact_moment) <= bound, (power, np.mean(estimates), exact_moment, bound)


def test_slq_nodes_span_the_exact_spectrum(result):
    """The extreme Ritz values of 80 Lanczos steps converge to the extreme eigenvalues first."""
    whole = result[ALL]
    exact = whole.exact_eigenvalues
    np.testing.assert_allclose(whole.ritz_values.max(axis=1), exact.max(), rtol=1e-3)
    np.testing.assert_allclose(whole.ritz_values.min(axis=1), exact.min(), rtol=1e-2, atol=1e-6)


def test_per_layer_blocks_against_the_exact_diagonal_blocks(result):
    assert set(result) == {ALL, "hidden", "logits"}
    assert result["hidden"].size == 40 * 24 + 24 and result["logits"].size == 24 * 10 + 10
    for name in ("hidden", "logits"):
        block = result[name]
        np.testing.assert_allclose(block.eigenvalues, by_magnitude(block.exact_eigenvalues, 5), rtol=1e-3)
        assert abs(block.trace - np.sum(block.exact_eigenvalues)) <= 3 * block.trace_standard_error
    # the blocks' exact traces add up to the whole trace (the diagonal is split among them)
    total = sum(np.sum(result[name].exact_eigenvalues) for name in ("hidden", "logits"))
    assert total == pytest.approx(np.sum(result[ALL].exact_eigenvalues), rel=1e-9)


def test_layer_blocks_group_each_layers_weights():
    assert layer_blocks(["block1/conv/kernel", "block1/conv/bias", "head/kernel", "scale"]) == \
        {"block1/conv": [0, 1], "head": [2], "scale": [3]}
