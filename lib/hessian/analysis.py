"""The Hessian analysis of one model: top eigenvalues, trace, spectral density, optionally per layer
and exact, from the Hessian-vector product of lib.backend.hessian_vector (reference/diversity.md §3).

`analyze(subject, settings, progress)` returns one Spectrum for the whole Hessian (`ALL`) and, with
`per_layer`, one for each layer's diagonal block H_bb (lib.hessian.subject.layer_blocks), whose
product is the block of H applied to the vector zero outside the layer.
"""

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from lib.hessian import spectrum
from lib.hessian.options import DEFAULT_EXAMPLES
from lib.hessian.subject import HessianSubject, batches, layer_blocks

ALL = "all"
EXACT_LIMIT = 20_000  # parameters: the full matrix is then 3.2 GB in float64 and its eigh takes minutes


@dataclass(frozen=True)
class HessianSettings:
    """PyHessian's defaults (reference/diversity.md §3.2), with one SLQ probe as its density()."""

    batch_size: int = DEFAULT_EXAMPLES
    top_k: int = 1
    max_iterations: int = 100
    tolerance: float = 1e-3
    trace_iterations: int = 100
    probes: int = 1
    lanczos_steps: int = 100
    per_layer: bool = False
    exact: bool = False
    save_eigenvectors: bool = False
    seed: int = 0


@dataclass
class Spectrum:
    """The estimates for the whole Hessian or one diagonal block of `size` parameters."""

    name: str
    size: int
    eigenvalues: np.ndarray  # (top_k,) Rayleigh-Ritz values of power iteration's vectors (lib.hessian.spectrum)
    iterations: np.ndarray  # (top_k,) power iterations each took
    power_eigenvalues: np.ndarray  # (top_k,) the values power iteration itself ended with (PyHessian's)
    trace_samples: np.ndarray  # v^T H v of the Rademacher probes (mean: the trace)
    ritz_values: np.ndarray  # (probes, steps) SLQ nodes
    ritz_weights: np.ndarray  # (probes, steps) SLQ weights
    eigenvectors: np.ndarray | None = None  # (top_k, size) with --save_eigenvectors
    exact_eigenvalues: np.ndarray | None = None  # every eigenvalue, ascending, with --exact
    seconds: dict = field(default_factory=dict)

    @property
    def trace(self) -> float:
        return float(np.mean(self.trace_samples))

    @property
    def trace_standard_error(self) -> float:
        samples = self.trace_samples
        return float(np.std(samples, ddof=1) / np.sqrt(len(samples))) if len(samples) > 1 else float("nan")


def analyze(subject: HessianSubject, settings: HessianSettings, progress: Callable[[str], None]) -> list[Spectrum]:
    from lib.backend.hessian_vector import HessianVectorProduct

    hvp = HessianVectorProduct(subject.model, subject.loss, batches(subject.data, settings.batch_size))
    parameters = hvp.parameters
    exact = None
    if settings.exact:
        started = time.perf_counter()
        exact = spectrum.exact_hessian(hvp, parameters.size, progress=progress)
        exact_seconds = time.perf_counter() - started
    results = [_spectrum(ALL, hvp, parameters.size, settings, progress, exact)]
    if exact is not None:
        results[0].seconds["exact"] += exact_seconds
    if settings.per_layer:
        slices = list(parameters.slices().values())
        for layer, indices in layer_blocks(parameters.names).items():
            block = np.concatenate([np.arange(parameters.size)[slices[i]] for i in indices])
            block_hvp = _block_product(hvp, parameters.size, block)
            block_exact = None if exact is None else exact[np.ix_(block, block)]
            results.append(_spectrum(layer, block_hvp, len(block), settings, progress, block_exact))
    return results


def _block_product(hvp: Callable, size: int, block: np.ndarray) -> Callable:
    def product(vector):
        padded = np.zeros(size)
        padded[block] = vector
        return hvp(padded)[block]

    return product


def _spectrum(name: str, hvp: Callable, size: int, settings: HessianSettings, progress: Callable,
              exact: np.ndarray | None) -> Spectrum:
    def report(line):
        progress(f"{name}: {line}")

    seconds = {}
    started = time.perf_counter()
    top = spectrum.top_eigenvalues(hvp, size, k=min(settings.top_k, size), max_iterations=settings.max_iterations,
                                   tolerance=settings.tolerance, seed=settings.seed, progress=report)
    seconds["top_eigenvalues"] = time.perf_counter() - started
    started = time.perf_counter()
    trace = spectrum.hutchinson_trace(hvp, size, max_iterations=settings.trace_iterations,
                                      tolerance=settings.tolerance, seed=settings.seed + 1, progress=report)
    seconds["trace"] = time.perf_counter() - started
    started = time.perf_counter()
    probes = [spectrum.lanczos(hvp, size, steps=settings.lanczos_steps, seed=settings.seed + 2 + probe,
                               progress=lambda line, p=probe: report(f"probe {p + 1}/{settings.probes}, {line}"))
              for probe in range(settings.probes)]
    seconds["density"] = time.perf_counter() - started
    seconds["exact"] = 0.0
    exact_eigenvalues = None
    if exact is not None:
        started = time.perf_counter()
        report(f"eigh of the {size} x {size} matrix")
        exact_eigenvalues = np.linalg.eigvalsh(exact)
        seconds["exact"] = time.perf_counter() - started
    return Spectrum(name, size, top.values, np.asarray(top.iterations), top.power_values, trace,
                    np.stack([nodes for nodes, _ in probes]), np.stack([weights for _, weights in probes]),
                    eigenvectors=top.vectors if settings.save_eigenvectors else None,
                    exact_eigenvalues=exact_eigenvalues, seconds=seconds)
