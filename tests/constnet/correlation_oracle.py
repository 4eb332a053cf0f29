"""The tests' oracle for lib.studies.constnet.correlations: the same definitions in float64 NumPy
(Blumenfeld et al. 2020, §3 of reference/constnet.md).

The rows and the mean pair correlation are defined in that module's docstring; here they are
computed the plain way, so that the tests compare two independent implementations.

Everything here is NumPy on float64 copies, independent of any backend; production code measures
on the device (lib.studies.constnet.correlations), and the tests check it against this.
"""

import numpy as np

from lib.studies.constnet.correlations import MAX_ROWS, WEIGHT_MEASURES


def weight_rows(kernel: np.ndarray, measure: str) -> np.ndarray:
    """The row matrix of a conv (kh, kw, C_in, C_out) or dense (in, out) kernel for `measure`."""
    kernel = np.asarray(kernel)
    if kernel.ndim == 2:
        kernel = kernel[None, None]  # a dense layer is a 1x1 convolution
    taps, c_in, c_out = kernel.shape[0] * kernel.shape[1], kernel.shape[2], kernel.shape[3]
    if measure == "forward":
        return np.moveaxis(kernel, 3, 0).reshape(c_out, taps * c_in)
    if measure == "backward":
        return np.moveaxis(kernel, 2, 0).reshape(c_in, taps * c_out)
    if measure == "kernels":
        # row o * C_in + i, as the original's (C_out, C_in, kh, kw) tensor orders them
        return kernel.reshape(taps, c_in, c_out).transpose(2, 1, 0).reshape(c_out * c_in, taps)
    raise ValueError(f"unknown correlation measure '{measure}' (valid: {', '.join(WEIGHT_MEASURES)})")


def channel_rows(features: np.ndarray) -> np.ndarray:
    """One row per channel of a feature map (N, ..., C): the channel's values over examples and positions."""
    features = np.asarray(features)
    return features.reshape(-1, features.shape[-1]).T


def mean_pair_correlation(rows: np.ndarray, *, max_rows: int = MAX_ROWS, rng: np.random.Generator | None = None) -> float:
    """Mean Pearson correlation over all pairs of rows, constant rows counting 1 against anything.

    Computed without the n x n matrix. With z_i the m standardized non-constant rows of length
    d and z the mean of them, sum_{i<j} r_ij = m(m-1)/2 - m S / (2d), S = sum_i |z_i - z|^2.
    S is a sum of small terms when the rows are nearly identical (ConstNet just after its
    symmetry breaks), so 1 - rho keeps its precision where the textbook |sum z_i|^2 form would
    round it away. When every non-constant row is bitwise the same the mean is exactly 1,
    which is what ConstNet's identical channels must give (Diversity's -inf).
    """
    rows = np.asarray(rows)
    n = rows.shape[0]
    if n < 2:
        return float("nan")
    if n > max_rows:
        rng = rng if rng is not None else np.random.default_rng(0)
        rows = rows[np.sort(rng.choice(n, size=max_rows, replace=False))]
        n = max_rows
    rows = rows.astype(np.float64)  # float32 sums of equal values stay exact in float64
    varying = rows.max(axis=1) > rows.min(axis=1)
    m = int(varying.sum())
    pairs_with_constant_row = n * (n - 1) // 2 - m * (m - 1) // 2
    varying_pair_sum = m * (m - 1) / 2
    if m >= 2 and not np.all(rows[varying] == rows[varying][0]):
        z = rows[varying] - rows[varying].mean(axis=1, keepdims=True)
        z /= np.sqrt((z * z).mean(axis=1, keepdims=True))
        spread = float(((z - z.mean(axis=0)) ** 2).sum())
        varying_pair_sum -= m * spread / (2 * rows.shape[1])
    return float(np.clip((varying_pair_sum + pairs_with_constant_row) / (n * (n - 1) / 2), -1.0, 1.0))


def weight_correlations(kernel: np.ndarray, *, max_rows: int = MAX_ROWS, rng: np.random.Generator | None = None) -> dict:
    """{measure: rho} for forward, backward and kernel rows of one kernel."""
    return {measure: mean_pair_correlation(weight_rows(kernel, measure), max_rows=max_rows, rng=rng)
            for measure in WEIGHT_MEASURES}
