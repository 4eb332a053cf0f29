"""lib.hessian.spectrum on matrices whose spectrum is known (NumPy only): the algorithms against `eigh`."""

import numpy as np
import pytest

from lib.hessian import spectrum


def symmetric(size=60, seed=0):
    """A symmetric indefinite matrix with a few large eigenvalues, like a trained network's Hessian."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((size, size)))
    values = np.concatenate([[40.0, 25.0, -12.0, 9.0, 7.0], rng.normal(0, 0.5, size - 5)])
    return (basis * values) @ basis.T, np.sort(values)


def test_power_iteration_finds_the_top_eigenvalues_by_magnitude():
    matrix, values = symmetric()
    pairs = spectrum.top_eigenvalues(lambda v: matrix @ v, len(matrix), k=5, tolerance=1e-8, max_iterations=2000)
    by_magnitude = values[np.argsort(-np.abs(values))][:5]
    np.testing.assert_allclose(pairs.values, by_magnitude, rtol=1e-3)
    for value, vector in zip(pairs.values, pairs.vectors):
        np.testing.assert_allclose(matrix @ vector, value * vector, atol=1e-2 * abs(value))


def test_hutchinson_trace_is_within_three_standard_errors():
    matrix, values = symmetric(seed=1)
    samples = spectrum.hutchinson_trace(lambda v: matrix @ v, len(matrix), max_iterations=200, tolerance=1e-9)
    error = np.std(samples, ddof=1) / np.sqrt(len(samples))
    assert abs(np.mean(samples) - values.sum()) <= 3 * error


def test_lanczos_quadrature_reproduces_the_spectrum_moments():
    matrix, values = symmetric(seed=2)
    size = len(matrix)
    nodes, weights = zip(*(spectrum.lanczos(lambda v: matrix @ v, size, steps=size, seed=seed) for seed in range(20)))
    nodes, weights = np.array(nodes), np.array(weights)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-10)
    np.testing.assert_allclose(nodes[0], values, atol=1e-6)  # a full Lanczos run finds every eigenvalue
    for power in (1, 2):  # each probe's quadrature is an unbiased estimate of the moment: within 3 standard errors
        per_probe = np.sum(weights * nodes ** power, axis=1)
        error = np.std(per_probe, ddof=1) / np.sqrt(len(per_probe))
        assert abs(np.mean(per_probe) - np.mean(values ** power)) <= 3 * error, power


def test_density_is_normalized_and_peaks_at_the_nodes():
    nodes, weights = np.array([[-1.0, 0.0, 2.0]]), np.array([[0.2, 0.5, 0.3]])
    grid, curve = spectrum.density(nodes, weights)
    assert len(grid) == 10_000 and grid[0] == pytest.approx(-1.01) and grid[-1] == pytest.approx(2.01)
    assert np.sum(curve) * (grid[1] - grid[0]) == pytest.approx(1.0)
    peaks = [grid[np.argmin(np.abs(grid - node))] for node in nodes[0]]
    assert curve[np.argmin(np.abs(grid - 0.0))] > curve[np.argmin(np.abs(grid - 2.0))] > curve[np.argmin(np.abs(grid - 1.0))]
    assert len(peaks) == 3


def test_exact_hessian_is_the_matrix():
    matrix, _ = symmetric(size=12)
    np.testing.assert_allclose(spectrum.exact_hessian(lambda v: matrix @ v, 12), matrix, atol=1e-12)
