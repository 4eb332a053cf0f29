"""Single learnable scalars: Fixup's bias and multiplier (reference/constnet.md §2.1, §2.6, §6).

ConstNet's non-BN path uses h = ReLU(x + b0), r = scale·(Conv(h) + b1); LeakyNet adds b0 before
every block conv. Each is one parameter shared by all positions and channels, so it never
breaks channel symmetry.
"""

import keras


class _Scalar(keras.layers.Layer):
    """One trainable scalar weight named `value`, with an optional regularizer."""

    initial_value: float

    def __init__(self, regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.regularizer = keras.regularizers.get(regularizer)

    def build(self, input_shape):
        self.value = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_value),
                                     regularizer=self.regularizer, name="value")

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "regularizer": keras.regularizers.serialize(self.regularizer)}


@keras.saving.register_keras_serializable(package="initlab")
class ScalarBias(_Scalar):
    """y = x + b with one learnable scalar b, initialised to 0."""

    initial_value = 0.0

    def call(self, inputs):
        return inputs + keras.ops.cast(self.value, inputs.dtype)


@keras.saving.register_keras_serializable(package="initlab")
class ScalarScale(_Scalar):
    """y = s·x with one learnable scalar s, initialised to 1."""

    initial_value = 1.0

    def call(self, inputs):
        return inputs * keras.ops.cast(self.value, inputs.dtype)
