"""lib.correlations' mean pair correlation computed where the tensors live (keras.ops), for the
per-epoch measurement: on a GPU, copying every block's activations to the host and reducing
them with NumPy would cost more than the measurement itself.

Same definition, formula (S = sum of squared deviations of the standardized rows from their
mean, which keeps 1 - rho precise for nearly identical rows) and exact cases as
lib.correlations. The sums run in float32 on the device: 1 - rho to a relative ~1e-3 even
when it is 1e-8, rho to ~1e-6 elsewhere.
"""

import keras
import numpy as np

from lib.correlations import MAX_ROWS

ops = keras.ops


def weight_rows(kernel, measure: str):
    """lib.correlations.weight_rows on a device tensor (same row order)."""
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
