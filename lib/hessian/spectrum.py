"""Spectral estimates from Hessian-vector products: `hvp(v) -> H v` on flat float64 vectors.

PyHessian's algorithms and defaults (reference/diversity.md §3.2), with its bugs fixed (§3.4):
- top_eigenvalues: power iteration with deflation (Gram-Schmidt against the eigenvectors found),
  max_iterations 100, relative tolerance 1e-3; eigenvalues of largest magnitude. initlab then
  takes the Rayleigh-Ritz values of the k vectors V found and their products HV: at
  PyHessian's tolerance the power values of close eigenvalues are off by percents (the vectors
  of a close pair are mixed); the Ritz values in span{V, HV} (2k more products) agree with the
  exact ones to 1e-3 (tests/hessian/test_exact.py); the power values are kept as `power_values`;
- hutchinson_trace: mean of v^T H v over Rademacher v, stopping when the running mean changes by less
  than the tolerance relative to its magnitude (PyPI 0.1 divided by the signed trace), but not
  before `min_samples` (20) probes: PyHessian's rule alone can stop after 3, where the mean is off by
  more than three of its standard errors 4.5% of the time (nominal: 0.3%), 1% from 20 probes on
  (measured on a 1,234 x 1,234 spectrum of a network's shape, 300 seeds);
- lanczos: `steps` (100) Lanczos steps from a normalized Rademacher vector with full
  reorthogonalization, restarting from a Gaussian vector if a beta vanishes; the tridiagonal T is
  decomposed with the symmetric `eigh` (PyHessian's later fix squares complex eigenvector entries):
  nodes = its eigenvalues, weights = the squared first components of its eigenvectors;
- density: PyHessian's `density_generate` curve, a Gaussian kernel of variance
  1e-5 * max(1, lambda_max - lambda_min) on 10,000 points over [mean min - 0.01, mean max + 0.01],
  averaged over probes and normalized to unit integral;
- exact_hessian: H column by column (H e_i) for models small enough to hold it.
`progress(line)` is called once per iteration.
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

NORM_EPSILON = 1e-6  # in the stopping rules' denominators, as PyHessian's


@dataclass(frozen=True)
class Eigenpairs:
    values: np.ndarray  # (k,) Rayleigh-Ritz values of the power-iteration vectors, largest magnitude first
    vectors: np.ndarray  # (k, P) their Ritz vectors
    iterations: list  # power iterations of each
    power_values: np.ndarray  # (k,) the values power iteration ended with (PyHessian's result), in finding order


def _normalized(v: np.ndarray) -> np.ndarray:
    """v / |v| exactly (PyHessian divides by |v| + 1e-6: vectors 1e-6 short of unit length, which a full
    Lanczos run turns into 1e-5 errors in the eigenvalues)."""
    norm = np.linalg.norm(v)
    return v / norm if norm > 0 else v


def _orthonormalized(v: np.ndarray, basis) -> np.ndarray:
    """v without its components along the orthonormal `basis` vectors, normalized: classical Gram-Schmidt
    as two matrix products, twice (one pass leaves rounding-size components when v is nearly in the
    span; the per-vector loop of PyHessian costs a BLAS call per vector, 1.3 s per 100-step probe on
    77k parameters)."""
    if len(basis):
        matrix = np.asarray(basis)
        for _ in range(2):
            v = v - matrix.T @ (matrix @ v)
    return _normalized(v)


def top_eigenvalues(hvp: Callable, size: int, *, k: int = 1, max_iterations: int = 100, tolerance: float = 1e-3,
                    seed: int = 0, progress: Callable = lambda line: None) -> Eigenpairs:
    rng = np.random.default_rng(seed)
    values, vectors, iterations = [], [], []
    for index in range(k):
        v = _normalized(rng.standard_normal(size))
        value = None
        for iteration in range(1, max_iterations + 1):
            v = _orthonormalized(v, vectors)
            product = hvp(v)
            estimate = float(np.dot(product, v))
            v = _normalized(product)
            progress(f"eigenvalue {index + 1}/{k}, iteration {iteration}: {estimate:.6g}")
            if value is not None and abs(value - estimate) / (abs(value) + NORM_EPSILON) < tolerance:
                value = estimate
                break
            value = estimate
        values.append(value)
        vectors.append(_orthonormalized(v, vectors))
        iterations.append(iteration)
    ritz_values, ritz_vectors = rayleigh_ritz(hvp, np.array(vectors))
    return Eigenpairs(ritz_values, ritz_vectors, iterations, np.array(values))


def rayleigh_ritz(hvp: Callable, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The k eigenpairs of largest magnitude of H restricted to span{V, HV} for the k orthonormal rows V
    of `vectors` (2k products): a block Krylov step, which separates what power iteration left mixed
    within V and corrects V's last vector, whose mixing partner lies outside V."""
    products = [hvp(row) for row in vectors]
    basis = list(vectors)
    for product in products:
        residual = product
        for _ in range(2):  # twice: a small residual of one pass is not yet orthogonal to the basis
            residual = residual - np.array(basis).T @ (np.array(basis) @ residual)
        if np.linalg.norm(residual) > 1e-8 * np.linalg.norm(product):  # else inside the span already
            basis.append(residual / np.linalg.norm(residual))
    products += [hvp(row) for row in basis[len(vectors):]]
    basis, products = np.array(basis), np.array(products)
    projected = basis @ products.T
    values, coefficients = np.linalg.eigh((projected + projected.T) / 2)
    order = np.argsort(-np.abs(values))[:len(vectors)]
    return values[order], coefficients[:, order].T @ basis


MIN_TRACE_SAMPLES = 20


def hutchinson_trace(hvp: Callable, size: int, *, max_iterations: int = 100, tolerance: float = 1e-3, seed: int = 0,
                     min_samples: int = MIN_TRACE_SAMPLES, progress: Callable = lambda line: None) -> np.ndarray:
    """The samples v^T H v (their mean estimates tr H; their standard error its uncertainty)."""
    rng = np.random.default_rng(seed)
    samples = []
    mean = 0.0
    for iteration in range(1, max_iterations + 1):
        v = rng.choice([-1.0, 1.0], size=size)
        samples.append(float(np.dot(hvp(v), v)))
        previous, mean = mean, float(np.mean(samples))
        progress(f"trace, sample {iteration}: running mean {mean:.6g}")
        if iteration >= max(2, min_samples) and abs(mean - previous) / (abs(previous) + NORM_EPSILON) < tolerance:
            break
    return np.array(samples)


def lanczos(hvp: Callable, size: int, *, steps: int = 100, seed: int = 0,
            progress: Callable = lambda line: None) -> tuple[np.ndarray, np.ndarray]:
    """Ritz values and weights of one stochastic Lanczos quadrature probe (both (steps,))."""
    rng = np.random.default_rng(seed)
    steps = min(steps, size)
    basis = np.zeros((steps, size))  # the Lanczos vectors, one row each (one array: no copies per step)
    basis[0] = _normalized(rng.choice([-1.0, 1.0], size=size))
    alphas, betas = [], []
    w = None
    for step in range(steps):
        if step > 0:
            beta = float(np.linalg.norm(w))
            betas.append(beta)
            v = w / beta if beta > NORM_EPSILON else rng.standard_normal(size)
            basis[step] = _orthonormalized(v, basis[:step])
        product = hvp(basis[step])
        alpha = float(np.dot(product, basis[step]))
        alphas.append(alpha)
        w = product - alpha * basis[step] - (betas[-1] * basis[step - 1] if step > 0 else 0.0)
        progress(f"lanczos step {step + 1}/{steps}: alpha {alpha:.6g}")
    tridiagonal = np.diag(alphas) + np.diag(betas, 1) + np.diag(betas, -1)
    nodes, eigenvectors = np.linalg.eigh(tridiagonal)
    return nodes, eigenvectors[0] ** 2


def density(nodes: np.ndarray, weights: np.ndarray, *, bins: int = 10_000, sigma_squared: float = 1e-5,
            overhead: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(grid, density) of the spectral density from SLQ probes: `nodes`, `weights` of shape (probes, steps)."""
    nodes, weights = np.atleast_2d(nodes), np.atleast_2d(weights)
    high = float(np.mean(np.max(nodes, axis=1))) + overhead
    low = float(np.mean(np.min(nodes, axis=1))) - overhead
    grid = np.linspace(low, high, bins)
    variance = sigma_squared * max(1.0, high - low)
    curve = np.zeros(bins)
    for probe_nodes, probe_weights in zip(nodes, weights, strict=True):
        kernel = np.exp(-(grid[:, None] - probe_nodes[None, :]) ** 2 / (2 * variance)) / np.sqrt(2 * np.pi * variance)
        curve += kernel @ probe_weights
    curve /= len(nodes)
    return grid, curve / (np.sum(curve) * (grid[1] - grid[0]))


def exact_hessian(hvp: Callable, size: int, progress: Callable = lambda line: None) -> np.ndarray:
    """The full (size, size) Hessian, one column per product, symmetrized."""
    columns = []
    for index in range(size):
        unit = np.zeros(size)
        unit[index] = 1.0
        columns.append(hvp(unit))
        if (index + 1) % 1000 == 0 or index + 1 == size:
            progress(f"exact Hessian: column {index + 1}/{size}")
    matrix = np.stack(columns, axis=1)
    return (matrix + matrix.T) / 2
