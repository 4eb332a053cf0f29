"""ConstNet: the one-conv-per-block Wide ResNet of Blumenfeld, Gilboa & Soudry (2020).

Architecture and init follow reference/constnet.md §2.1-2.5 (BeyondSigProp model.py). Two
deliberate departures from that code: each group is evaluated once (the original's
NetworkBlock runs its blocks twice and keeps the second result, which doubles the BN
running-statistics updates), and a strided 3×3 conv pads one pixel on every side as PyTorch
does (Keras "same" pads only bottom/right for stride 2, which would put the residual branch one
pixel off the 1×1 shortcut's sampling grid). The helpers here are shared with models.leakynet.
"""

import functools
import itertools

import keras

from lib.constnet_initializers import ChannelAverage
from lib.initializers import layer_seed
from models import MODELS
from models.scalar_layers import ScalarBias, ScalarScale

# PyTorch BatchNorm2d: eps 1e-5 and running averages that give the new batch weight 0.1.
BN_EPSILON, BN_MOMENTUM = 1e-5, 0.9
GROUP_STRIDES = (1, 2, 2)


def blocks_per_group(depth: int) -> int:
    """n = (depth - 4) / 3: one conv per block, so depth 16 has 4 blocks per group (§2.1)."""
    if (depth - 4) % 3 != 0 or depth < 7:
        raise ValueError(f"depth must be 3n + 4 with n >= 1 (7, 10, 13, 16, ...); got {depth}")
    return (depth - 4) // 3


def widths(widen_factor: int) -> tuple[int, int, int, int]:
    """Channels of conv1 and of groups 1-3: [16, 16k, 32k, 64k]."""
    return 16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor


def seeds(run_seed: int, stream: int):
    """Per-layer seeds layer_seed(., 1), layer_seed(., 2), ... of one stream of a run.

    Weights (stream 0) and dropout masks (stream 1) count separately, so turning dropout on
    leaves the initial weights of a seed unchanged.
    """
    return map(functools.partial(layer_seed, layer_seed(run_seed, stream)), itertools.count(1))


def l2(weight_decay: float):
    """PyTorch SGD's coupled weight decay adds wd·w to the gradient; so does L2(wd/2) on the loss."""
    return keras.regularizers.L2(weight_decay / 2) if weight_decay > 0 else None


def batch_norm(name: str, weight_decay: float, synchronized: bool):
    regularizer = l2(weight_decay)
    return keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, gamma_regularizer=regularizer,
                                           beta_regularizer=regularizer, synchronized=synchronized, name=name)


def conv3x3(x, filters: int, stride: int, initializer, weight_decay: float, name: str):
    """3×3 conv without bias, padding 1 on every side as in PyTorch (a `<name>_pad` layer when strided)."""
    padding = "same"
    if stride > 1:
        x = keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
        padding = "valid"
    return keras.layers.Conv2D(filters, 3, strides=stride, padding=padding, use_bias=False,
                               kernel_initializer=initializer, kernel_regularizer=l2(weight_decay), name=name)(x)


def logits(x, num_classes: int, initializer, weight_decay: float):
    """Linear logits (the loss takes from_logits); bias starts at 0. Always float32, so that under
    mixed precision the loss is computed from float32 logits."""
    return keras.layers.Dense(num_classes, kernel_initializer=initializer, bias_initializer="zeros",
                              kernel_regularizer=l2(weight_decay), bias_regularizer=l2(weight_decay),
                              dtype="float32", name="logits")(x)


def _fan_out_normal(scale: float):
    return lambda seed: keras.initializers.VarianceScaling(scale, mode="fan_out", distribution="untruncated_normal",
                                                           seed=seed)


def _average(seed: int):
    """ConstNet's averaging kernel (conv1 centre 1/3 for RGB, shortcuts 1/C_in): deterministic, seed unused."""
    return ChannelAverage(1.0)


def _zeros(seed: int):
    return keras.initializers.Zeros()


def _initializers(varnet: bool, sigma_w: float | None):
    """(conv1, block conv, shortcut) initializer factories, each taking a seed (§2.2, §2.3)."""
    if sigma_w is None:
        sigma_w = 1.0 if varnet else 0.0
    if sigma_w < 0:
        raise ValueError(f"sigma_w must be >= 0; got {sigma_w}")
    # Block convs: N(0, 2·sigma_w/(9·C_out)), He fan-out for sigma_w = 1; all zeros for ConstNet.
    block = _fan_out_normal(2 * sigma_w) if sigma_w > 0 else _zeros
    if varnet:
        return _fan_out_normal(1.0), block, _fan_out_normal(1.0)
    return _average, block, _average


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
