"""What one metagradient computation returns, on either backend (lib.backend.metagradient)."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MetaStep:
    outer_loss: float  # mean of the T inner training losses (both methods: the area under the inner curve)
    gradients: dict  # d(objective)/d(outer), one array per outer parameter
    inner_losses: np.ndarray  # (T,) the inner training losses, step by step
    final_inner: dict  # the inner parameters after the T steps


def to_step(outer_loss, gradients, inner_losses, final_inner) -> MetaStep:
    """The backends' tensors as a MetaStep of NumPy values."""
    import keras

    def numpy(tree):
        return {key: keras.ops.convert_to_numpy(value) for key, value in tree.items()}

    return MetaStep(float(keras.ops.convert_to_numpy(outer_loss)), numpy(gradients),
                    keras.ops.convert_to_numpy(inner_losses), numpy(final_inner))
