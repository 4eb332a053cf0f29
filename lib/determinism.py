"""Deterministic arithmetic: ConstNet's `--cudaNoise` switch (reference/constnet.md §2.7).

On a GPU, reductions whose order varies from run to run (cuDNN's atomic-add kernels) leave
channels that started identical slightly different, which is enough to break ConstNet's
symmetry. Deterministic ops remove that noise source. On a CPU there is none to remove.
TensorFlow implementation; the module to swap on another backend.
"""


def enable_deterministic_ops() -> None:
    """Every TensorFlow op runs a deterministic kernel (or raises); call before building the model."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
