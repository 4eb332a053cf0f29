"""Weight-normalized Dense and Conv2D layers: w = g·v/‖v‖ per output unit (Salimans & Kingma 2016;
reference/weightnorm_abc.md §A4).

Why these layers exist: Keras 3 has no weight normalization (its SpectralNormalization is a different
thing, and constraints such as UnitNorm project after each update instead of reparameterizing), and
tensorflow-addons' WeightNormalization wrapper is Keras-2 only and end-of-life (reference/keras_stack.md §4).
So each layer owns its parameters directly, with keras.ops only, and works on every backend:

- `v`, the direction, with the shape of the kernel: (in, units) for Dense, (kh, kw, C_in, filters) for Conv2D;
- `g`, one gain per output unit or channel;
- `bias`, optional.

The effective kernel is w[..., j] = g_j · v[..., j] / ‖v[..., j]‖, the norm taken over every kernel
axis but the last (axis 0 for Dense; axes 0, 1, 2 for Conv2D), which is what PyTorch's
`weight_norm(module, dim=0)` does per output row of its (out, in, ...) weight: the WN of Arpit, Campos
& Bengio's code, which wraps its hidden Linear and Conv layers so (§A3, §A4).

`g_initializer=None` (the default) sets g = ‖v‖ once v is drawn, as PyTorch's weight_norm does, so the
effective kernel equals v at init; the paper's proposed gains come from lib.initializers.weight_norm.
All parameters are ordinary layer variables (in `model.variables`, so run checkpoints keep them), and
the layers are registered serializable, so `model.save` / `keras.models.load_model` round-trip them.
"""

import keras
from keras import ops


def direction_norm(v):
    """‖v[..., j]‖ for every output unit j: the norm over all axes but the last, shape (units,)."""
    return ops.sqrt(ops.sum(ops.square(v), axis=tuple(range(len(v.shape) - 1))))


class _WeightNormalized(keras.layers.Layer):
    """What both layers share: the variables v, g and bias, and the effective kernel."""

    def __init__(self, v_initializer="glorot_uniform", g_initializer=None, bias_initializer="zeros", use_bias=True,
                 v_regularizer=None, g_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        # Keras Dense's defaults, so that a default WN layer starts as the Dense it replaces.
        self.v_initializer = keras.initializers.get(v_initializer)
        self.g_initializer = keras.initializers.get(g_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.use_bias = bool(use_bias)
        # Weight decay as PyTorch's SGD applies it: to every parameter, v and g included.
        self.v_regularizer = keras.regularizers.get(v_regularizer)
        self.g_regularizer = keras.regularizers.get(g_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _add_parameters(self, kernel_shape):
        units = kernel_shape[-1]
        self.v = self.add_weight(name="v", shape=kernel_shape, initializer=self.v_initializer,
                                 regularizer=self.v_regularizer)
        g_initializer = self._norm_of_v if self.g_initializer is None else self.g_initializer
        self.g = self.add_weight(name="g", shape=(units,), initializer=g_initializer, regularizer=self.g_regularizer)
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=(units,), initializer=self.bias_initializer,
                                        regularizer=self.bias_regularizer)

    def _norm_of_v(self, shape, dtype=None):
        """PyTorch's weight_norm init, g = ‖v‖ per unit (v is created first)."""
        return ops.cast(direction_norm(self.v), dtype)

    def output_scale(self):
        """g/‖v‖ per output unit, shape (units,)."""
        return self.g / direction_norm(self.v)

    def effective_kernel(self):
        """w = g·v/‖v‖: v scaled per output unit by g/‖v‖ (a (units,) vector, broadcast over the last axis)."""
        return self.v * self.output_scale()

    def _scaled(self, outputs):
        """x·w = (x·v)·g/‖v‖ per output unit: the layers apply v, then scale the outputs, which costs a pass over
        the outputs instead of one over the kernel (WN/plain step time on a 4×1024 MLP, JAX: 1.07 vs 1.19;
        bench/weightnorm_overhead.py). Then the bias."""
        outputs = outputs * self.output_scale()
        return outputs + self.bias if self.use_bias else outputs

    def get_config(self):
        serialize_initializer, serialize_regularizer = keras.initializers.serialize, keras.regularizers.serialize
        return {**super().get_config(),
                "v_initializer": serialize_initializer(self.v_initializer),
                "g_initializer": None if self.g_initializer is None else serialize_initializer(self.g_initializer),
                "bias_initializer": serialize_initializer(self.bias_initializer),
                "use_bias": self.use_bias,
                "v_regularizer": serialize_regularizer(self.v_regularizer),
                "g_regularizer": serialize_regularizer(self.g_regularizer),
                "bias_regularizer": serialize_regularizer(self.bias_regularizer)}


@keras.saving.register_keras_serializable(package="initlab")
class WeightNormDense(_WeightNormalized):
    """Dense with a weight-normalized kernel: y = x·w + b, w = g·v/‖v‖ with ‖v‖ over the inputs (axis 0).

    No activation argument: the pre-activation stays observable, the activation is its own layer.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self._add_parameters((input_shape[-1], self.units))

    def call(self, inputs):
        return self._scaled(ops.matmul(inputs, self.v))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@keras.saving.register_keras_serializable(package="initlab")
class WeightNormConv2D(_WeightNormalized):
    """Conv2D (channels last) with a weight-normalized kernel: ‖v‖ over (kh, kw, C_in) per output channel.

    padding is Keras' "valid" or "same"; for PyTorch's symmetric padding of a strided conv put a
    ZeroPadding2D before a "valid" one (models/blocks.py does so for plain convs).
    """

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same'; got {padding!r}")
        self.padding = padding

    def build(self, input_shape):
        self._add_parameters((*self.kernel_size, input_shape[-1], self.filters))

    def call(self, inputs):
        return self._scaled(ops.conv(inputs, self.v, strides=self.strides, padding=self.padding,
                                     data_format="channels_last"))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding}


def _pair(value) -> tuple[int, int]:
    """An int or a pair of ints, as a pair (Keras' kernel_size / strides convention)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2:
        raise ValueError(f"expected an int or a pair of ints; got {value!r}")
    return int(pair[0]), int(pair[1])
