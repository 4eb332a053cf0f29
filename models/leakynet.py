"""LeakyNet: the plain (residual-free) CNN of Blumenfeld, Gilboa & Soudry (2020), reference/constnet.md §2.6.

Same widths, depth rule and strides as ConstNet (models.wide_resnet), but no shortcuts: block i
computes φ(Conv3×3(x + b0)) with φ = LeakyReLU(α). Each conv is initialised by one character
of the `--init` string. Blocks alternate phase p = +1, -1; an odd block's kernel is scaled by
-1/α, so that LReLU(-LReLU(z)/α) = -z and each (+1, -1) pair is exactly linear at init.
"""

import math

import keras

from lib.initializers import INITIALIZERS
from lib.initializers.leakynet_codes import parse_init_string
from models import MODELS
from models.blocks import GROUP_STRIDES, batch_norm, blocks_per_group, conv3x3, l2, logits, seeds, widths
from models.scalar_layers import ScalarBias

# The registry entry of each deterministic or noisy code (lib.initializers.beyond_sigprop).
PATTERN_INITIALIZERS = {"1": "channel_average", "i": "channel_identity", "n": "noisy_average", "k": "noisy_identity"}


def kernel_initializer(code: str, phase: int, lrelu: float, c_in: int, seed: int):
    """The init of one 3×3 conv (§2.6), with gain g = √2·(1+α) and fan_in = 9·C_in.

    The pattern value is the phase, or -1/α for phase -1 when α > 0. g enters the random
    variance linearly (σ² = g/fan_in), as in the reference, not as g².
    """
    gain, fan_in = math.sqrt(2) * (1 + lrelu), 9 * c_in
    value = -1 / lrelu if phase < 0 and lrelu > 0 else float(phase)
    if code == "h":
        return INITIALIZERS.build("gaussian", seed=seed, stddev=math.sqrt(gain / fan_in))
    noise = {"noise_variance": 0.01 * gain / fan_in} if code in "nk" else {}
    return INITIALIZERS.build(PATTERN_INITIALIZERS[code], seed=seed, value=value, **noise)


def activation(lrelu: float, name: str):
    return keras.layers.LeakyReLU(negative_slope=lrelu, name=name) if lrelu > 0 else keras.layers.ReLU(name=name)


@MODELS.register("leakynet", tiny={"depth": 7, "widen_factor": 1})
def leakynet(input_shape, num_classes: int, *, depth: int = 16, widen_factor: int = 10, batchnorm: bool = True,
             init: str | None = None, lrelu: float = 0.0, droprate: float = 0.0, noise: float = 0.0,
             weight_decay: float = 5e-4, synchronized_bn: bool = False, seed: int = 0) -> keras.Model:
    """LeakyNet (§2.6): conv1, 3n blocks φ(Conv(x + b0)) [+ dropout] [+ BN on odd blocks], φ, pool, logits.

    `init` is the per-layer code string (e.g. "1_iiii_11ii_iiii" for depth 16); None means "h"
    (random) for every layer, whatever the depth. BN sits only after odd blocks, as the original.
    """
    n = blocks_per_group(depth)
    codes = parse_init_string(init, depth) if init is not None else ["h"] * (1 + 3 * n)
    if lrelu < 0:
        raise ValueError(f"lrelu (the leaky slope) must be >= 0; got {lrelu}")
    channels = widths(widen_factor)
    weight_seeds, dropout_seeds = seeds(seed, 0), seeds(seed, 1)

    inputs = keras.Input(input_shape, name="input")
    x = conv3x3(inputs, channels[0], 1, kernel_initializer(codes[0], +1, lrelu, input_shape[-1], next(weight_seeds)),
                weight_decay, "conv1")
    for i in range(3 * n):
        g, b = divmod(i, n)
        prefix, c_in, c_out = f"group{g + 1}_block{b}", x.shape[-1], channels[g + 1]
        phase = +1 if i % 2 == 0 else -1
        x = ScalarBias(l2(weight_decay), name=f"{prefix}_bias0")(x)
        initializer = kernel_initializer(codes[i + 1], phase, lrelu, c_in, next(weight_seeds))
        x = conv3x3(x, c_out, GROUP_STRIDES[g] if b == 0 else 1, initializer, weight_decay, f"{prefix}_conv")
        x = activation(lrelu, f"{prefix}_act")(x)
        if droprate > 0:
            x = keras.layers.Dropout(droprate, seed=next(dropout_seeds), name=f"{prefix}_dropout")(x)
        if batchnorm and i % 2 == 1:
            x = batch_norm(f"{prefix}_bn", weight_decay, synchronized_bn)(x)
        x = keras.layers.Identity(name=f"{prefix}_out")(x)  # every block ends in a layer named <block>_out
    x = activation(lrelu, "final_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    # fc: zero, or N(0, noise/144) with --noise (144 = 9·16, conv1's fan-out, as in the reference).
    fc_init = INITIALIZERS.build("gaussian", seed=next(weight_seeds), stddev=math.sqrt(noise / 144)) \
        if noise > 0 else "zeros"
    return keras.Model(inputs, logits(x, num_classes, fc_init, weight_decay), name="leakynet")
