"""Layers and helpers shared by the conv-net families (ConstNet, LeakyNet; reference/constnet.md §2.1):
widths and depth rule, per-layer seeds, PyTorch-equivalent BatchNorm, weight decay, padded 3×3
convs and float32 logits.

A strided 3×3 conv pads one pixel on every side as PyTorch does (Keras "same" pads only
bottom/right for stride 2, which would put the residual branch one pixel off a 1×1 shortcut's
sampling grid).
"""

import functools
import itertools

import keras

from lib.initializers import layer_seed

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
