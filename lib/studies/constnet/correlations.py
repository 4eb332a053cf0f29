"""Mean pairwise correlations of weight rows and of feature channels (Blumenfeld et al. 2020, §3 of
reference/constnet.md), computed where the tensors live (keras.ops): on a GPU, copying every
block's activations to the host and reducing them with NumPy would cost more than the
measurement itself. Only scalars come back to the host.

A weight tensor is cut into rows three ways (Keras layouts: conv (kh, kw, C_in, C_out), dense
(in, out)):
- forward: one row per output filter, its fan-in weights (C_out rows of kh*kw*C_in);
- backward: one row per input channel, its fan-out weights (C_in rows of kh*kw*C_out);
- kernels: one row per (input, output) pair, its kh*kw taps (degenerate for 1x1 and dense).
Of at most `max_rows` randomly chosen rows, rho = mean over pairs i < j of the Pearson
correlation of rows i and j, a pair involving a constant row counting as 1 (the original's NaN
-> 1 rule). The original logs -ln|rho| (0: identical rows) and Diversity = sum over layers of
ln sqrt(1 - rho_backward^2).

The mean is computed without the n x n matrix. With z_i the m standardized non-constant rows of
length d and z their mean, sum_{i<j} r_ij = m(m-1)/2 - m S / (2d), S = sum_i |z_i - z|^2. S is a
sum of small terms when the rows are nearly identical (ConstNet just after its symmetry breaks),
so 1 - rho keeps its precision where the textbook |sum z_i|^2 form would round it away; when every
non-constant row is bitwise the same the mean is exactly 1 (Diversity's -inf). The sums run in
float32: 1 - rho to a relative ~1e-3 even when it is 1e-8, rho to ~1e-6 elsewhere. The float64
NumPy version of the same formula is the tests' oracle (tests/constnet/correlation_oracle.py).
"""

import keras
import numpy as np

MAX_ROWS = 5000  # the original's cap on rows per matrix (a uniformly random subset above it)
WEIGHT_MEASURES = ("forward", "backward", "kernels")
ops = keras.ops


def weight_rows(kernel, measure: str):
    """The row matrix of a conv (kh, kw, C_in, C_out) or dense (in, out) kernel for `measure`."""
    if len(kernel.shape) == 2:
        kernel = ops.reshape(kernel, (1, 1, *kernel.shape))
    kh, kw, c_in, c_out = kernel.shape
    if measure == "forward":
        return ops.reshape(ops.transpose(kernel, (3, 0, 1, 2)), (c_out, kh * kw * c_in))
    if measure == "backward":
        return ops.reshape(ops.transpose(kernel, (2, 0, 1, 3)), (c_in, kh * kw * c_out))
    if measure == "kernels":
        return ops.reshape(ops.transpose(kernel, (3, 2, 0, 1)), (c_out * c_in, kh * kw))
    raise ValueError(f"unknown correlation measure '{measure}'")


def channel_rows(features):
    """One row per channel of a feature map (N, ..., C)."""
    return ops.transpose(ops.reshape(features, (-1, features.shape[-1])))


def mean_pair_correlation(rows, *, max_rows: int = MAX_ROWS, rng: np.random.Generator | None = None) -> float:
    n = rows.shape[0]
    if n < 2:
        return float("nan")
    if n > max_rows:
        rng = rng if rng is not None else np.random.default_rng(0)
        rows = ops.take(rows, np.sort(rng.choice(n, size=max_rows, replace=False)), axis=0)
        n = max_rows
    rows = ops.cast(rows, "float32")
    varying_index = np.flatnonzero(ops.convert_to_numpy(ops.max(rows, axis=1) > ops.min(rows, axis=1)))
    m = len(varying_index)
    pairs_with_constant_row = n * (n - 1) // 2 - m * (m - 1) // 2
    varying_pair_sum = m * (m - 1) / 2
    varying = ops.take(rows, varying_index, axis=0) if m else rows[:0]
    if m >= 2 and not bool(ops.all(varying == varying[:1])):
        centred = varying - ops.mean(varying, axis=1, keepdims=True)
        z = centred / ops.sqrt(ops.mean(centred * centred, axis=1, keepdims=True))
        deviation = z - ops.mean(z, axis=0, keepdims=True)
        spread = float(ops.sum(deviation * deviation))
        varying_pair_sum -= m * spread / (2 * rows.shape[1])
    return float(np.clip((varying_pair_sum + pairs_with_constant_row) / (n * (n - 1) / 2), -1.0, 1.0))


def negative_log(rho: float) -> float:
    """The original's logged value -ln|rho|: 0 for identical rows, growing as rows decorrelate."""
    with np.errstate(divide="ignore"):
        return float(-np.log(np.abs(rho)))


def diversity(backward_rhos) -> float:
    """The original's `Diversity`: sum over layers of ln sqrt(1 - rho_backward^2) (-inf if any rho is +-1).

    A layer with a single input channel (conv1 on grayscale images) has no pair to correlate
    (rho is NaN) and adds nothing.
    """
    rhos = np.asarray(list(backward_rhos), dtype=np.float64)
    rhos = rhos[~np.isnan(rhos)]
    with np.errstate(divide="ignore"):
        return float(np.sum(0.5 * np.log1p(-rhos * rhos)))
