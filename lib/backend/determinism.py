"""Deterministic arithmetic: ConstNet's `--cudaNoise` switch (reference/constnet.md §2.7).

On a GPU, reductions whose order varies from run to run (cuDNN's atomic-add kernels, XLA's
autotuned kernels) leave channels that started identical slightly different, which is enough
to break ConstNet's symmetry. Deterministic ops remove that noise source. On a CPU there is
none to remove. TensorFlow: `enable_op_determinism`. JAX: XLA's `--xla_gpu_deterministic_ops`,
which must be in XLA_FLAGS before JAX starts: lib.environment puts it there from the command line.
"""

import os

from lib.environment import XLA_DETERMINISTIC
from lib.errors import UsageError


def enable_deterministic_ops() -> None:
    """Every op runs a deterministic kernel; call before building the model."""
    import keras

    if keras.backend.backend() == "jax":
        if XLA_DETERMINISTIC not in os.environ.get("XLA_FLAGS", ""):
            raise UsageError(f"deterministic ops on JAX need XLA_FLAGS={XLA_DETERMINISTIC} before JAX starts: "
                             "run experiment.py with --cudaNoise, or set it yourself")
        return
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
