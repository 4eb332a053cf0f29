"""The Keras initializers of PyTorch's default nn.Linear init (entries: torch_default.py).

Drawn with NumPy from the seed, as lib.studies.diversity.networks.torch_linear draws the
metalearning's classifier: one seed gives the same weights on every backend, and, like Keras'
own seeded initializers, an instance returns the same tensor on every call.
"""

import math

import keras
import numpy as np


def fan_in(shape) -> int:
    """Inputs per output unit as Keras counts them: shape[0] for a vector or matrix, the product of all
    but the last dimension for a conv kernel (kh * kw * C_in, as PyTorch's fan-in of a conv weight)."""
    shape = tuple(int(size) for size in shape)
    if len(shape) <= 1:
        return shape[0] if shape else 1
    return math.prod(shape[:-1])


def _uniform(shape, bound: float, seed, dtype):
    values = np.random.default_rng(seed).uniform(-bound, bound, size=tuple(shape))
    return keras.ops.convert_to_tensor(values, dtype=dtype or keras.config.floatx())


@keras.saving.register_keras_serializable(package="initlab")
class TorchLinearKernel(keras.initializers.Initializer):
    """U(-1/sqrt(fan_in), +1/sqrt(fan_in)) with fan_in from the kernel's shape: PyTorch's nn.Linear weight."""

    def __init__(self, seed: int | None = None):
        self.seed = seed

    def __call__(self, shape, dtype=None):
        return _uniform(shape, 1.0 / math.sqrt(fan_in(shape)), self.seed, dtype)

    def get_config(self):
        return {"seed": self.seed}


@keras.saving.register_keras_serializable(package="initlab")
class TorchLinearBias(keras.initializers.Initializer):
    """U(-1/sqrt(fan_in), +1/sqrt(fan_in)) with the layer's fan_in: PyTorch's nn.Linear bias."""

    def __init__(self, fan_in: int, seed: int | None = None):
        if int(fan_in) < 1:
            raise ValueError(f"fan_in must be >= 1; got {fan_in}")
        self.fan_in = int(fan_in)
        self.seed = seed

    def __call__(self, shape, dtype=None):
        return _uniform(shape, 1.0 / math.sqrt(self.fan_in), self.seed, dtype)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": self.seed}
