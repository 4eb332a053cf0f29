"""Deterministic conv-kernel patterns of ConstNet and LeakyNet (reference/constnet.md §2.2, §2.6).

Kernels are in Keras layout (kh, kw, C_in, C_out). Only the centre tap is ever non-zero, so a
pattern acts on channels alone: "average" mixes every input channel equally into every output
channel, "identity" copies input channel o mod C_in to output channel o. Arrays are built with
NumPy (exact, backend-independent values) and converted at the end. The random Gaussian inits
of the paper are Keras built-ins (RandomNormal, VarianceScaling with "untruncated_normal").
"""

import keras
import numpy as np

PATTERNS = ("average", "identity")


def _check_kernel_shape(shape) -> tuple[int, int, int, int]:
    if len(shape) != 4:
        raise ValueError(f"expected a conv kernel shape (kh, kw, C_in, C_out); got {tuple(shape)}")
    return tuple(int(size) for size in shape)


def channel_average(shape, value: float) -> np.ndarray:
    """Centre tap = value / C_in for every (in, out) pair, zeros elsewhere (§2.2 conv1 and shortcuts)."""
    kh, kw, c_in, c_out = _check_kernel_shape(shape)
    kernel = np.zeros((kh, kw, c_in, c_out))
    kernel[kh // 2, kw // 2, :, :] = value / c_in
    return kernel


def channel_identity(shape, value: float) -> np.ndarray:
    """Centre tap [o mod C_in, o] = value for every output channel o (§2.6 code 'i').

    With C_out > C_in the inputs are replicated cyclically (conv1 3 -> 16 cycles R, G, B).
    """
    kh, kw, c_in, c_out = _check_kernel_shape(shape)
    if c_out < c_in:
        raise ValueError(f"an identity kernel needs C_out >= C_in; got C_in={c_in}, C_out={c_out}")
    kernel = np.zeros((kh, kw, c_in, c_out))
    outputs = np.arange(c_out)
    kernel[kh // 2, kw // 2, outputs % c_in, outputs] = value
    return kernel


def _to_tensor(array: np.ndarray, dtype):
    return keras.ops.convert_to_tensor(array, dtype=dtype or keras.config.floatx())


@keras.saving.register_keras_serializable(package="initlab")
class ChannelAverage(keras.initializers.Initializer):
    """ConstNet's averaging kernel: every output channel is value × the mean of the input channels."""

    def __init__(self, value: float = 1.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return _to_tensor(channel_average(shape, self.value), dtype)

    def get_config(self):
        return {"value": self.value}


@keras.saving.register_keras_serializable(package="initlab")
class ChannelIdentity(keras.initializers.Initializer):
    """LeakyNet's identity kernel: output channel o = value × input channel (o mod C_in)."""

    def __init__(self, value: float = 1.0):
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return _to_tensor(channel_identity(shape, self.value), dtype)

    def get_config(self):
        return {"value": self.value}


@keras.saving.register_keras_serializable(package="initlab")
class NoisyPattern(keras.initializers.Initializer):
    """0.99 × an averaging or identity pattern + N(0, noise_variance), untruncated (§2.6 codes 'n', 'k').

    Seeded through NumPy so that one seed gives the same kernel on every backend; like Keras'
    own seeded initializers, an instance returns the same tensor on every call.
    """

    def __init__(self, pattern: str, value: float, noise_variance: float, seed: int | None = None):
        if pattern not in PATTERNS:
            raise ValueError(f"unknown pattern '{pattern}' (valid: {', '.join(PATTERNS)})")
        if noise_variance < 0:
            raise ValueError(f"noise_variance must be >= 0; got {noise_variance}")
        self.pattern = pattern
        self.value = float(value)
        self.noise_variance = float(noise_variance)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        build = channel_average if self.pattern == "average" else channel_identity
        kernel = 0.99 * build(shape, self.value)
        noise = np.random.default_rng(self.seed).normal(0.0, np.sqrt(self.noise_variance), size=kernel.shape)
        return _to_tensor(kernel + noise, dtype)

    def get_config(self):
        return {"pattern": self.pattern, "value": self.value, "noise_variance": self.noise_variance,
                "seed": self.seed}
