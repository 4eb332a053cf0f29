"""ConstNet: the one-conv-per-block Wide ResNet of Blumenfeld, Gilboa & Soudry (2020).

Architecture and init follow reference/constnet.md §2.1-2.5 (BeyondSigProp model.py). Two
deliberate departures from that code: each group is evaluated once (the original's
NetworkBlock runs its blocks twice and keeps the second result, which doubles the BN
running-statistics updates), and a strided 3×3 conv pads one pixel on every side as PyTorch
does (Keras "same" pads only bottom/right for stride 2, which would put the residual branch one
pixel off the 1×1 shortcut's sampling grid). The conv and BN helpers are models.blocks, shared with models.leakynet.
"""

import keras

from lib.initializers import INITIALIZERS
from models import MODELS
from models.blocks import GROUP_STRIDES, batch_norm, blocks_per_group, conv3x3, l2, logits, seeds, widths
from models.scalar_layers import ScalarBias, ScalarScale


def _fan_out_normal(scale: float):
    return lambda seed: INITIALIZERS.build("fan_out_normal", seed=seed, scale=scale)


def _average(seed: int):
    """ConstNet's averaging kernel (conv1 centre 1/3 for RGB, shortcuts 1/C_in): deterministic, seed unused."""
    return INITIALIZERS.build("channel_average", seed=seed)


def _zeros(seed: int):
    return INITIALIZERS.build("zeros", seed=seed)


def _initializers(varnet: bool, sigma_w: float | None):
    """(conv1, block conv, shortcut) initializer factories, each taking a seed (§2.2, §2.3).

    Random kernels are N(0, gain²·sigma_w/fan_out), fan_out = k·k·C_out (BeyondSigProp model.py):
    block convs with the ReLU gain² = 2, and with varnet conv1 (1/(9·16) at sigma_w = 1) and the
    1×1 shortcuts (1/C_out) with gain 1, so -W scales all three. sigma_w = 0 gives all-zero kernels.
    """
    if sigma_w is None:
        sigma_w = 1.0 if varnet else 0.0
    if sigma_w < 0:
        raise ValueError(f"sigma_w must be >= 0; got {sigma_w}")

    def random(gain_squared: float):
        return _fan_out_normal(gain_squared * sigma_w) if sigma_w > 0 else _zeros

    if varnet:
        return random(1.0), random(2.0), random(1.0)
    return _average, random(2.0), _average


@MODELS.register("constnet", tiny={"depth": 7, "widen_factor": 1})
def constnet(input_shape, num_classes: int, *, depth: int = 16, widen_factor: int = 10, batchnorm: bool = True,
             fixup: bool = True, droprate: float = 0.0, dropout_conv1: bool = False, varnet: bool = False,
             sigma_w: float | None = None, weight_decay: float = 5e-4, synchronized_bn: bool = False,
             seed: int = 0) -> keras.Model:
    """ConstNet / varnet Wide ResNet (§2.1): conv1, 3 groups of pre-activation one-conv blocks, ReLU, pool, logits.

    batchnorm=False selects the Fixup scalar path (requires fixup=True, as the original asserts).
    sigma_w None means 1 with varnet and 0 (all-zero block convs) without.
    """
    if not (batchnorm or fixup):
        raise ValueError("constnet needs batchnorm or fixup (the original asserts use_bn or use_fixup)")
    n = blocks_per_group(depth)
    channels = widths(widen_factor)
    conv1_init, block_init, shortcut_init = _initializers(varnet, sigma_w)
    weight_seeds, dropout_seeds = seeds(seed, 0), seeds(seed, 1)

    def dropout(x, name):
        return keras.layers.Dropout(droprate, seed=next(dropout_seeds), name=name)(x) if droprate > 0 else x

    inputs = keras.Input(input_shape, name="input")
    x = conv3x3(inputs, channels[0], 1, conv1_init(next(weight_seeds)), weight_decay, "conv1")
    if dropout_conv1:
        x = dropout(x, "conv1_dropout")
    for g in (1, 2, 3):
        for b in range(n):
            prefix = f"group{g}_block{b}"
            c_in, c_out = (channels[g - 1] if b == 0 else channels[g]), channels[g]
            stride = GROUP_STRIDES[g - 1] if b == 0 else 1
            h = batch_norm(f"{prefix}_bn", weight_decay, synchronized_bn)(x) if batchnorm else \
                ScalarBias(l2(weight_decay), name=f"{prefix}_bias0")(x)
            h = keras.layers.ReLU(name=f"{prefix}_relu")(h)
            r = conv3x3(h, c_out, stride, block_init(next(weight_seeds)), weight_decay, f"{prefix}_conv")
            if not batchnorm:
                r = ScalarBias(l2(weight_decay), name=f"{prefix}_bias1")(r)
            r = dropout(r, f"{prefix}_dropout")
            if not batchnorm:
                r = ScalarScale(l2(weight_decay), name=f"{prefix}_scale")(r)
            # Identity shortcut on the block input; a projection shortcut reads the activated h.
            shortcut = x if c_in == c_out else keras.layers.Conv2D(
                c_out, 1, strides=stride, use_bias=False, kernel_initializer=shortcut_init(next(weight_seeds)),
                kernel_regularizer=l2(weight_decay), name=f"{prefix}_shortcut")(h)
            x = keras.layers.Add(name=f"{prefix}_out")([shortcut, r])
    x = keras.layers.ReLU(name="final_relu")(x)  # no BN before the final ReLU (§2.1)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, logits(x, num_classes, "zeros", weight_decay), name="constnet")
