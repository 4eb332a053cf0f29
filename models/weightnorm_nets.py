"""The four networks of Arpit, Campos & Bengio (2019), as weightnorm-init's nets.py builds them
(reference/weightnorm_abc.md §A3): `wn_mlp`, `wn_cnn`, `wn_resnet`, `wn_wrn`.

Hidden layers are weight-normalized with `weight_norm` and initialized by `init` per their position
(models/weightnorm_init.py); the classifier is a plain Dense with PyTorch's default init. Each layer's
name says its position, so later code (the data-dependent init, layer-wise measurements) finds it by name:

| name | position (γ of the proposed g, §A5) |
|---|---|
| `hidden<i>` (MLP), `conv<i>` (CNN), i from 1 | plain (2) |
| `stem` | plain (2) in `wn_resnet`; wrn_stem (1) in `wn_wrn` (the reference's WRN "conv1") |
| `stage<s>_block<b>_conv1` | block_first (2) |
| `stage<s>_block<b>_conv2` | block_second (1/B_k; Hanin: (0.9^b)²), b = 1..B_k within stage s = 1..3 |
| `stage<s>_block<b>_shortcut` | shortcut (1) |
| `logits` | the classifier (no WN, PyTorch's default nn.Linear init) |

A block's other layers: `_bn1`, `_relu1` (BN only), `_relu2`, `_bn2` (BN only), `_add` (its output: no ReLU
after it); `stem_bn`, `final_bn` (the ResNet's, BN only); `pool`; `<conv>_pad` before a strided 3×3.

`weight_decay` (an addition to §A3's arguments) puts L2(wd/2) on every parameter, which is PyTorch SGD's
coupled weight_decay (§A1's `--weight_decay`).
"""

import keras

from models import MODELS
from models.blocks import batch_norm as batch_norm_layer
from models.weightnorm_init import NetworkLayers

RESNET_STAGE_WIDTHS = (1, 2, 4)  # ×hidden_size: "3 stages with widths hidden_size·{1, 2, 4}" (§A3)
WRN_STEM_CHANNELS = 16  # "conv1: 16 channels" whatever k (§A3)
WRN_STAGE_WIDTHS = (16, 32, 64)  # ×k: "Stages conv2/3/4 have 16k, 32k and 64k channels" (§A3)


def _refuse_residual_options(network: str, batch_norm: bool, hanin: bool):
    """§A1: --batch_norm is "ResNet/WRN only", and hanin changes the second conv of residual blocks."""
    if batch_norm:
        raise ValueError(f"batch_norm applies to wn_resnet and wn_wrn only; the {network} has no BatchNorm")
    if hanin:
        raise ValueError(f"hanin sets the second conv of residual blocks; the {network} has none")


@MODELS.register("wn_mlp", tiny={"hidden_size": 8, "num_layers": 2})
def wn_mlp(input_shape, num_classes: int, *, hidden_size: int = 128, num_layers: int = 2, weight_norm: bool = True,
           batch_norm: bool = False, init: str = "orthogonal_proposed", hanin: bool = False, weight_decay: float = 0.0,
           seed: int = 0) -> keras.Model:
    """§A3 MLP: "Flatten the input, then `num_layers` hidden Linear layers of `hidden_size` units, each
    followed by ReLU", then "a plain nn.Linear(hidden_size, num_classes)". Every hidden layer, the first
    included, is a "plain" position (γ = 2: "The first hidden layer also uses g_gain = 2")."""
    _refuse_residual_options("MLP", batch_norm, hanin)
    layers = NetworkLayers(init, weight_norm=weight_norm, hanin=hanin, seed=seed, weight_decay=weight_decay)
    inputs = keras.Input(tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(1, num_layers + 1):
        x = layers.dense(x, hidden_size, f"hidden{i}")
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    return keras.Model(inputs, layers.logits(x, num_classes), name="wn_mlp")


@MODELS.register("wn_cnn", tiny={"hidden_size": 16, "num_layers": 3})
def wn_cnn(input_shape, num_classes: int, *, hidden_size: int = 128, num_layers: int = 2, weight_norm: bool = True,
           batch_norm: bool = False, init: str = "orthogonal_proposed", hanin: bool = False, weight_decay: float = 0.0,
           seed: int = 0) -> keras.Model:
    """§A3 CNN: "`num_layers` 3×3 conv layers with `hidden_size` channels, padding 1, each followed by ReLU.
    The first two convs have stride 2 (for memory). The rest have stride 1. Then global average pooling
    and a plain Linear classifier (no WN)." Every conv is a "plain" position (γ = 2)."""
    _refuse_residual_options("CNN", batch_norm, hanin)
    layers = NetworkLayers(init, weight_norm=weight_norm, hanin=hanin, seed=seed, weight_decay=weight_decay)
    inputs = keras.Input(tuple(input_shape), name="input")
    x = inputs
    for i in range(1, num_layers + 1):
        x = layers.conv(x, hidden_size, 3, 2 if i <= 2 else 1, f"conv{i}", "plain")
        x = keras.layers.ReLU(name=f"relu{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.logits(x, num_classes), name="wn_cnn")


def residual_block(x, layers: NetworkLayers, filters: int, stride: int, prefix: str, *, blocks_in_stage: int,
                   block_index: int, batch_norm: bool, weight_decay: float):
    """§A3 `WRNResBlock`, the basic block; its output is the sum itself ("No ReLU after the addition and no
    final activation").

    Without BN: out = conv2(ReLU(conv1(x))) + shortcut(x). With BN ("pre-activation style"):
    BN1 → ReLU → conv1 → BN2 → ReLU → conv2, and "The shortcut is applied to BN1(x) when it is a conv"
    (BN1's output, before the ReLU; an identity shortcut adds x itself). conv1 is 3×3 with the block's
    stride, conv2 3×3 stride 1; "shortcut = 1×1 conv (with stride) when channels or stride change, otherwise identity".
    """
    def bn(name):
        return batch_norm_layer(f"{prefix}_{name}", weight_decay, synchronized=False)

    projection = stride > 1 or x.shape[-1] != filters
    h = normalized = x
    if batch_norm:
        normalized = bn("bn1")(x)
        h = keras.layers.ReLU(name=f"{prefix}_relu1")(normalized)
    h = layers.conv(h, filters, 3, stride, f"{prefix}_conv1", "block_first")
    if batch_norm:
        h = bn("bn2")(h)
    h = keras.layers.ReLU(name=f"{prefix}_relu2")(h)
    h = layers.conv(h, filters, 3, 1, f"{prefix}_conv2", "block_second", blocks_in_stage=blocks_in_stage,
                    block_index=block_index)
    shortcut = layers.conv(normalized, filters, 1, stride, f"{prefix}_shortcut", "shortcut") if projection else x
    return keras.layers.Add(name=f"{prefix}_add")([h, shortcut])


def _stages(x, layers: NetworkLayers, widths, blocks: int, batch_norm: bool, weight_decay: float):
    """Three stages of `blocks` blocks; the first block of stages 2 and 3 has stride 2 (§A3)."""
    for s, width in enumerate(widths, start=1):
        for b in range(1, blocks + 1):
            stride = 2 if s > 1 and b == 1 else 1
            x = residual_block(x, layers, width, stride, f"stage{s}_block{b}", blocks_in_stage=blocks, block_index=b,
                               batch_norm=batch_norm, weight_decay=weight_decay)
    return x


def _classifier(x, layers: NetworkLayers, num_classes: int):
    return layers.logits(keras.layers.GlobalAveragePooling2D(name="pool")(x), num_classes)


@MODELS.register("wn_resnet", tiny={"hidden_size": 16, "num_blocks": 1})
def wn_resnet(input_shape, num_classes: int, *, hidden_size: int = 128, num_blocks: int = 2, weight_norm: bool = True,
              batch_norm: bool = False, init: str = "orthogonal_proposed", hanin: bool = False, weight_decay: float = 0.0,
              seed: int = 0) -> keras.Model:
    """§A3 ResNet (CIFAR): "Stem: initial 3×3 conv, `hidden_size` channels, stride 1. It uses the default
    g_gain = 2 and has no ReLU after it. With `--batch_norm` it is followed by BN." Then 3 stages of
    `num_blocks` blocks, widths hidden_size·{1, 2, 4}, "Optional final BN, then GAP and a Linear classifier"
    (no ReLU after the final BN either). ResNet-56 / -110: hidden_size 16, num_blocks 9 / 18 (§A3).
    """
    layers = NetworkLayers(init, weight_norm=weight_norm, hanin=hanin, seed=seed, weight_decay=weight_decay)
    inputs = keras.Input(tuple(input_shape), name="input")
    x = layers.conv(inputs, hidden_size, 3, 1, "stem", "plain")
    if batch_norm:
        x = batch_norm_layer("stem_bn", weight_decay, synchronized=False)(x)
    x = _stages(x, layers, [hidden_size * w for w in RESNET_STAGE_WIDTHS], num_blocks, batch_norm, weight_decay)
    if batch_norm:
        x = batch_norm_layer("final_bn", weight_decay, synchronized=False)(x)
    return keras.Model(inputs, _classifier(x, layers, num_classes), name="wn_resnet")


@MODELS.register("wn_wrn", tiny={"wrn_n": 1, "wrn_k": 1})
def wn_wrn(input_shape, num_classes: int, *, wrn_n: int = 6, wrn_k: int = 2, reduced_memory: bool = False,
           weight_norm: bool = True, batch_norm: bool = False, init: str = "orthogonal_proposed", hanin: bool = False,
           weight_decay: float = 0.0, seed: int = 0) -> keras.Model:
    """§A3 WRN-(6N+4)-k: "conv1: 16 channels, 3×3, stride 1 (2 if reduced_memory). g_gain = 1 and no ReLU
    after it"; stages of 16k, 32k, 64k channels with N blocks each, the first block of the second and third
    with stride 2; "Then GAP and Linear". The 6N+4 layers are conv1, 2 convs per block and the 3 shortcuts
    (stage 1 has none when k = 1). BN only inside the blocks: §A3 gives the WRN no stem or final BN.
    """
    layers = NetworkLayers(init, weight_norm=weight_norm, hanin=hanin, seed=seed, weight_decay=weight_decay)
    inputs = keras.Input(tuple(input_shape), name="input")
    x = layers.conv(inputs, WRN_STEM_CHANNELS, 3, 2 if reduced_memory else 1, "stem", "wrn_stem")
    x = _stages(x, layers, [wrn_k * w for w in WRN_STAGE_WIDTHS], wrn_n, batch_norm, weight_decay)
    return keras.Model(inputs, _classifier(x, layers, num_classes), name="wn_wrn")
