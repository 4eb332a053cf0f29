"""How each layer of the weightnorm study's networks is made and initialized (reference/weightnorm_abc.md §A3-§A5).

A hidden layer is a WeightNormDense / WeightNormConv2D with `--weight_norm`, else a plain Dense / Conv2D;
`--init` and the layer's position choose its initializers in §A4's two steps:

- **v** (a plain layer's kernel), a seeded draw: `he`, `he_datadep` → `kaiming_normal` (PyTorch's
  kaiming_normal_, N(0, 2/fan_in)); `he_proposed` → `fan_in_normal` (N(0, 1/fan_in)); `orthogonal*` →
  `orthogonal` (gain 1). Every bias starts at 0 ("bias: 0" in every row of §A4's table).
- **g** (WN layers only): `he`, `orthogonal` → PyTorch's weight_norm default g = ‖v‖, so the effective
  kernel is v (g_initializer None); `*_proposed` → g = √(γ·fan_in/fan_out) with γ of the layer's position
  (§A5's table), the second conv of a residual block taking (0.9^b)² instead of 1/B_k under
  `--init_extra_param hanin`; `*_datadep` → g = ‖v‖ here as well: Salimans & Kingma's g = 1/σ, b = -μ/σ
  (§A4 Step 2) are data-dependent, so they are set on the first training batch, layer by layer, by the
  study before training (not by the builder), overwriting these g and biases.

The output layer is never weight-normalized and keeps PyTorch's default nn.Linear init (§A3: "The
output layer keeps PyTorch's default Linear init and never gets WN").

Each layer draws from its own seed, the next of the run's weight stream (models.blocks.seeds) in build
order, so the same seed gives a plain and a WN network the same v: with `he` they compute the same function.
"""

import dataclasses

import keras

from lib.initializers import INITIALIZERS
from lib.initializers.weight_norm import BLOCK_SECOND, gamma_for_position, proposed_gain, stagewise_hanin_gamma
from models.blocks import l2, seeds
from models.weight_norm import WeightNormConv2D, WeightNormDense

# §A4 Step 1: the registry entry that draws v for each --init.
V_ENTRY = {
    "he": "kaiming_normal",
    "he_datadep": "kaiming_normal",
    "he_proposed": "fan_in_normal",
    "orthogonal": "orthogonal",
    "orthogonal_datadep": "orthogonal",
    "orthogonal_proposed": "orthogonal",
}
WEIGHT_NORM_ONLY = ("_proposed", "_datadep")  # they set g, which a plain layer lacks (the original asserts WN)


@dataclasses.dataclass(frozen=True)
class LayerInit:
    """A layer's initializers: v (a plain layer's kernel), g (None: PyTorch's default g = ‖v‖) and bias."""

    v: keras.initializers.Initializer
    g: keras.initializers.Initializer | None
    bias: str = "zeros"


def layer_initializers(init: str, position: str, kernel_shape, seed: int, *, blocks_in_stage: int | None = None,
                       block_index: int | None = None, hanin: bool = False) -> LayerInit:
    """The initializers of one hidden layer (§A4, §A5): v drawn from `seed` by `init`'s rule; for `*_proposed`,
    g = √(γ·fan_in/fan_out) with γ = gamma_for_position(position, blocks_in_stage), or, with `hanin`, γ =
    stagewise_hanin_gamma(block_index) for the second conv of a block (block_index counts from 1 within its stage).
    """
    if init not in V_ENTRY:
        raise ValueError(f"unknown init '{init}' (valid: {', '.join(V_ENTRY)})")
    v = INITIALIZERS.build(V_ENTRY[init], seed=seed)
    if not init.endswith("_proposed"):
        return LayerInit(v, None)
    if hanin and position == BLOCK_SECOND:
        if block_index is None:
            raise ValueError("the stage-wise Hanin gain of a second conv needs its block index within the stage")
        gamma = stagewise_hanin_gamma(block_index)
    else:
        gamma = gamma_for_position(position, blocks_in_stage)
    return LayerInit(v, proposed_gain(kernel_shape, gamma))


class NetworkLayers:
    """Makes the weight layers of one network in build order, each with the next seed of the run's weight stream."""

    def __init__(self, init: str, *, weight_norm: bool, hanin: bool, seed: int, weight_decay: float = 0.0):
        if init not in V_ENTRY:
            raise ValueError(f"unknown init '{init}' (valid: {', '.join(V_ENTRY)})")
        if init.endswith(WEIGHT_NORM_ONLY) and not weight_norm:
            raise ValueError(f"init '{init}' sets the weight-norm gain g: it needs weight_norm=True")
        if hanin and not init.endswith("_proposed"):
            raise ValueError(f"hanin replaces a gamma of the proposed init; init '{init}' has none")
        self.init, self.weight_norm, self.hanin = init, bool(weight_norm), bool(hanin)
        # PyTorch's SGD weight_decay reaches every parameter, v and g included; L2(wd/2) on the loss is the same.
        self.regularizer = l2(weight_decay)
        self._seeds = seeds(seed, 0)

    def _initializers(self, position, kernel_shape, blocks_in_stage, block_index) -> LayerInit:
        return layer_initializers(self.init, position, kernel_shape, next(self._seeds), blocks_in_stage=blocks_in_stage,
                                  block_index=block_index, hanin=self.hanin)

    def _regularizers(self) -> dict:
        if self.weight_norm:
            return {"v_regularizer": self.regularizer, "g_regularizer": self.regularizer,
                    "bias_regularizer": self.regularizer}
        return {"kernel_regularizer": self.regularizer, "bias_regularizer": self.regularizer}

    def _initializer_arguments(self, inits: LayerInit) -> dict:
        if self.weight_norm:
            return {"v_initializer": inits.v, "g_initializer": inits.g, "bias_initializer": inits.bias}
        return {"kernel_initializer": inits.v, "bias_initializer": inits.bias}

    def dense(self, x, units: int, name: str, position: str = "plain"):
        """A hidden Linear layer of `units` (no activation: the pre-activation stays observable)."""
        inits = self._initializers(position, (x.shape[-1], units), None, None)
        layer = WeightNormDense if self.weight_norm else keras.layers.Dense
        return layer(units, **self._initializer_arguments(inits), **self._regularizers(), name=name)(x)

    def conv(self, x, filters: int, kernel_size: int, stride: int, name: str, position: str, *,
             blocks_in_stage: int | None = None, block_index: int | None = None):
        """A conv with PyTorch's padding (k - 1) / 2 on every side, as the original's (3×3 padding 1, 1×1 padding 0).

        Keras "same" pads a strided conv only bottom/right, so a strided 3×3 gets a `<name>_pad` ZeroPadding2D
        and "valid" instead: the output then has PyTorch's size and sampling grid, aligned with a 1×1 shortcut's.
        """
        pad = (kernel_size - 1) // 2
        padding = "same" if pad else "valid"
        if pad and stride > 1:
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
            padding = "valid"
        inits = self._initializers(position, (kernel_size, kernel_size, x.shape[-1], filters), blocks_in_stage,
                                   block_index)
        layer = WeightNormConv2D if self.weight_norm else keras.layers.Conv2D
        return layer(filters, kernel_size, strides=stride, padding=padding, **self._initializer_arguments(inits),
                     **self._regularizers(), name=name)(x)

    def logits(self, x, num_classes: int):
        """The classifier: a plain Dense with PyTorch's default nn.Linear init, never WN (§A3); float32 logits,
        so that under mixed precision the loss sees float32."""
        fan_in = x.shape[-1]
        kernel = INITIALIZERS.build("torch_linear_kernel", seed=next(self._seeds))
        bias = INITIALIZERS.build("torch_linear_bias", seed=next(self._seeds), fan_in=fan_in)
        return keras.layers.Dense(num_classes, kernel_initializer=kernel, bias_initializer=bias,
                                  kernel_regularizer=self.regularizer, bias_regularizer=self.regularizer,
                                  dtype="float32", name="logits")(x)
