"""The initialization of weight-normalized layers in Arpit, Campos & Bengio (2019) (reference/weightnorm_abc.md §A4, §A5).

A WN layer (models/weight_norm.py) learns a direction v and one gain g per output unit, w = g·v/‖v‖.
Its init is two separate choices (§A4):

- **v**, a seeded draw per layer, hence registry entries: `kaiming_normal` (`--init he`),
  `fan_in_normal` (`--init he_proposed`), and the registered Keras `orthogonal` (gain 1) for
  `--init orthogonal*`. Keras' Orthogonal orthonormalizes the kernel flattened to (fan_in, units), as
  PyTorch's orthogonal_ does the (units, fan_in) weight: the output units' directions are orthonormal
  when units <= fan_in, the inputs' rows otherwise.
- **g**, a function of the layer's shape and place in the network, not a draw: PyTorch's default
  g = ‖v‖ (so w = v at init) is the WN layer's own default (`g_initializer=None`); the proposed rule
  is `proposed_g` with γ from `gamma_for_position`, or `stagewise_hanin_gamma` for the baseline that
  replaces the second conv's γ. `proposed_gain` turns it into a Keras initializer.

The g rules are deliberately not INITIALIZERS entries: an entry is a seeded draw that fits any
kernel (the glorot study offers every entry as a Dense kernel init, and the registry's tests expect
an entry to vary with the layer's seed); a gain fits neither.
"""

import math

from lib.initializers import INITIALIZERS

# γ ("g_gain") of each WN layer position (§A5's table). The second conv of a residual block has
# 1/B_k instead, B_k the number of blocks of its stage: see gamma_for_position.
POSITION_GAMMA = {
    "plain": 2.0,        # MLP / CNN hidden layers (the first included) and the `resnet` stem: forward-preserving for ReLU
    "wrn_stem": 1.0,     # the WRN's conv1 (no ReLU after it)
    "block_first": 2.0,  # first conv of a residual block, followed by a ReLU
    "shortcut": 1.0,     # 1×1 shortcut conv (the original's note: 1/num_blocks was tried, 1 was best)
}
BLOCK_SECOND = "block_second"  # second conv of a residual block: γ = 1/B_k ("stage-wise normalisation")
POSITIONS = (*POSITION_GAMMA, BLOCK_SECOND)

HANIN_DECAY = 0.9  # the stage-wise Hanin baseline scales the b-th second conv of a stage by 0.9^b


@INITIALIZERS.register("kaiming_normal")
def kaiming_normal(seed: int):
    """v of `--init he`: PyTorch's kaiming_normal_ defaults, N(0, 2/fan_in) untruncated (§A4; Keras' he_normal truncates at 2σ)."""
    import keras

    return keras.initializers.VarianceScaling(2.0, mode="fan_in", distribution="untruncated_normal", seed=seed)


@INITIALIZERS.register("fan_in_normal")
def fan_in_normal(seed: int, scale: float = 1.0):
    """N(0, scale / fan_in), untruncated: v of `--init he_proposed` at scale 1 (§A4; the mirror of fan_out_normal)."""
    import keras

    return keras.initializers.VarianceScaling(scale, mode="fan_in", distribution="untruncated_normal", seed=seed)


def torch_fans(kernel_shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a Keras kernel as PyTorch counts them: (in, out) for a Dense kernel (in, out);
    (kh·kw·C_in, kh·kw·C_out) for a conv kernel (kh, kw, C_in, C_out), so their ratio is C_in / C_out (§A4)."""
    shape = tuple(int(size) for size in kernel_shape)
    if len(shape) < 2:
        raise ValueError(f"a kernel has at least 2 axes (inputs, outputs); got shape {shape}")
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


def proposed_g(fan_in: int, fan_out: int, gamma: float) -> float:
    """The proposed gain of every output unit, g = √(γ·fan_in/fan_out) (§A4, §A5; poster: g^l = √(2·n_{l-1}/n_l) for γ = 2).

    With orthogonal v and zero biases it keeps E‖h^l‖ ≈ ‖h^{l-1}‖ through a WN ReLU layer (γ = 2),
    and bounds the growth of a residual stage by a constant c ∈ [√2, √e] whatever its depth (§A5).
    """
    if fan_in < 1 or fan_out < 1 or gamma <= 0:
        raise ValueError(f"need fan_in, fan_out >= 1 and gamma > 0; got {fan_in}, {fan_out}, {gamma}")
    return math.sqrt(gamma * fan_in / fan_out)


def gamma_for_position(position: str, blocks_in_stage: int | None = None) -> float:
    """γ of a WN layer at `position` (POSITIONS) of §A5's table; `blocks_in_stage` (B_k) for "block_second", whose γ is 1/B_k."""
    if position == BLOCK_SECOND:
        if blocks_in_stage is None or blocks_in_stage < 1:
            raise ValueError(f"'{BLOCK_SECOND}' needs the number of blocks of its stage (>= 1); got {blocks_in_stage}")
        return 1.0 / blocks_in_stage
    if position not in POSITION_GAMMA:
        raise ValueError(f"unknown layer position '{position}' (valid: {', '.join(POSITIONS)})")
    return POSITION_GAMMA[position]


def stagewise_hanin_gamma(block_index: int) -> float:
    """γ of the second conv of block `block_index` (1..B_k, counted within its stage) under `--init_extra_param hanin`:
    (0.9^b)², so that g ∝ 0.9^b (§A5's "stage-wise Hanin" baseline, replacing γ = 1/B_k)."""
    if block_index < 1:
        raise ValueError(f"the block index counts from 1 within a stage; got {block_index}")
    return (HANIN_DECAY**block_index) ** 2


def proposed_gain(kernel_shape, gamma: float):
    """A Keras initializer filling g with proposed_g for a kernel of `kernel_shape` (fans as torch_fans counts them)."""
    import keras

    return keras.initializers.Constant(proposed_g(*torch_fans(kernel_shape), gamma))
