"""`--mixed_precision`: bfloat16 compute with float32 variables (Keras' `mixed_bfloat16` policy).

The models keep their output layer in float32, so losses are computed in float32, and every
recorded statistic (activations, gradients, correlations) is stored as float32 or float64.
bfloat16 pays off on GPUs; on a CPU it is mostly slower.
"""


def apply_policy(mixed_precision: bool) -> None:
    """Set the process-wide dtype policy before a model is built (the sweep builds several)."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16" if mixed_precision else "float32")
