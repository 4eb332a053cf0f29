"""The initialization rules of weight-normalized layers (lib/initializers/weight_norm.py; reference/weightnorm_abc.md
§A4, §A5): the proposed g = √(γ·fan_in/fan_out) with PyTorch's fans, γ per layer position, the stage-wise Hanin
baseline, and the direction entries (PyTorch's kaiming_normal_, N(0, 1/fan_in), orthogonal)."""

import math

import keras
import numpy as np
import pytest

from lib.initializers import INITIALIZERS, layer_seed
from lib.initializers.weight_norm import (
    POSITIONS,
    gamma_for_position,
    proposed_g,
    proposed_gain,
    stagewise_hanin_gamma,
    torch_fans,
)
from models.weight_norm import WeightNormConv2D, WeightNormDense

MLP_FIRST, MLP_HIDDEN = (784, 128), (128, 128)  # §A3's MLP: MNIST 784 -> 128 -> 128 (default 2 hidden layers)


def sample(name: str, shape, layer_index: int = 1, **parameters) -> np.ndarray:
    initializer = INITIALIZERS.build(name, seed=layer_seed(0, layer_index), **parameters)
    return keras.ops.convert_to_numpy(initializer(shape)).astype(np.float64)


# --- the proposed gain -----------------------------------------------------------------------------

def test_proposed_g_of_the_mlp_is_the_references_example():
    # §A4: "MLP 784→128 gives g = 3.5; 128→128 gives g = √2" (γ = 2, the plain-layer default).
    assert proposed_g(*MLP_FIRST, gamma=2.0) == pytest.approx(3.5, rel=1e-15)
    assert proposed_g(*MLP_HIDDEN, gamma=2.0) == pytest.approx(math.sqrt(2), rel=1e-15)
    assert proposed_g(*MLP_FIRST, gamma=gamma_for_position("plain")) == pytest.approx(3.5, rel=1e-15)


def test_an_mlp_layer_gets_the_proposed_gain_as_its_g_and_column_norms():
    layer = WeightNormDense(MLP_FIRST[1], v_initializer=INITIALIZERS.build("orthogonal", seed=layer_seed(0, 1)),
                            g_initializer=proposed_gain(MLP_FIRST, gamma_for_position("plain")))
    layer(np.zeros((1, MLP_FIRST[0]), dtype=np.float32))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.g), np.full(128, 3.5, dtype=np.float32))
    kernel = keras.ops.convert_to_numpy(layer.effective_kernel()).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 3.5, rtol=1e-6)  # float32 rounding


def test_torch_fans_count_the_receptive_field_on_both_sides():
    # §A4: PyTorch's fans of a conv both include k·k, so the ratio is C_in / C_out.
    assert torch_fans((784, 128)) == (784, 128)
    assert torch_fans((3, 3, 16, 32)) == (144, 288)
    assert torch_fans((1, 1, 16, 32)) == (16, 32)
    fan_in, fan_out = torch_fans((3, 3, 64, 32))
    assert fan_in / fan_out == 2.0
    with pytest.raises(ValueError, match="2 axes"):
        torch_fans((5,))


def test_proposed_gain_of_a_conv_uses_the_channel_ratio():
    gain = proposed_gain((3, 3, 16, 32), gamma=2.0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gain((32,))), 1.0, rtol=1e-7)  # √(2·144/288) = 1
    layer = WeightNormConv2D(32, 3, v_initializer=INITIALIZERS.build("orthogonal", seed=layer_seed(0, 2)),
                             g_initializer=proposed_gain((3, 3, 16, 32), gamma_for_position("block_second", 4)))
    layer(np.zeros((1, 5, 5, 16), dtype=np.float32))
    # Second conv of a block in a 4-block stage: g = √(fan_in / (B_k·fan_out)) = √(1/8).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.g), math.sqrt(1 / 8), rtol=1e-7)


# --- γ per layer position --------------------------------------------------------------------------

# §A5's table, written out independently of the code under test.
REFERENCE_GAMMAS = {"block_first": 2.0, "shortcut": 1.0, "wrn_stem": 1.0, "plain": 2.0}


@pytest.mark.parametrize("position", sorted(REFERENCE_GAMMAS))
def test_each_layer_position_gets_the_gamma_of_the_table(position):
    assert gamma_for_position(position) == REFERENCE_GAMMAS[position]


@pytest.mark.parametrize("blocks_in_stage", [1, 9, 18, 27])  # one block; the stages of ResNet-56, -110, -164 with basic blocks (§A3)
def test_the_second_conv_of_a_block_gets_one_over_the_blocks_of_its_stage(blocks_in_stage):
    assert gamma_for_position("block_second", blocks_in_stage) == pytest.approx(1 / blocks_in_stage, rel=1e-15)
    # So its g is √(fan_in/(B_k·fan_out)) (§A5), e.g. a 16 -> 16 3×3 conv:
    g = proposed_g(*torch_fans((3, 3, 16, 16)), gamma_for_position("block_second", blocks_in_stage))
    assert g == pytest.approx(1 / math.sqrt(blocks_in_stage), rel=1e-15)


def test_the_position_table_covers_every_position_and_refuses_others():
    assert set(POSITIONS) == set(REFERENCE_GAMMAS) | {"block_second"}
    with pytest.raises(ValueError, match="blocks of its stage"):
        gamma_for_position("block_second")
    with pytest.raises(ValueError, match="blocks of its stage"):
        gamma_for_position("block_second", 0)
    with pytest.raises(ValueError, match="valid: plain"):
        gamma_for_position("output")


def test_stagewise_hanin_gamma_makes_g_proportional_to_point_nine_to_the_block_index():
    # §A5: γ = (0.9^b)², b = 1..B_k within the stage, so g = 0.9^b·√(fan_in/fan_out).
    assert stagewise_hanin_gamma(1) == pytest.approx(0.81, rel=1e-15)
    gains = [proposed_g(32, 32, stagewise_hanin_gamma(b)) for b in range(1, 6)]
    np.testing.assert_allclose(gains, 0.9 ** np.arange(1, 6), rtol=1e-14)
    with pytest.raises(ValueError, match="from 1"):
        stagewise_hanin_gamma(0)


def test_proposed_g_refuses_impossible_fans_and_gammas():
    for arguments in ((0, 10, 2.0), (10, 0, 2.0), (10, 10, 0.0)):
        with pytest.raises(ValueError):
            proposed_g(*arguments)


# --- directions v ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "scale"), [("kaiming_normal", 2.0), ("fan_in_normal", 1.0)])
def test_gaussian_directions_have_variance_scale_over_fan_in_and_are_untruncated(name, scale):
    weights = sample(name, MLP_FIRST)
    n, sigma = weights.size, math.sqrt(scale / MLP_FIRST[0])
    # The sample variance of a Gaussian has relative standard error √(2/n) = 0.45 % here; six of them.
    assert weights.var() == pytest.approx(sigma**2, rel=6 * math.sqrt(2 / n))
    assert abs(weights.mean()) <= 6 * sigma / math.sqrt(n)
    # Untruncated, as PyTorch's normal_: P(|z| > 3σ) = 0.27 %, so ~270 of 100,352 entries; Keras' truncated
    # normals (he_normal, lecun_normal) never exceed 2.27σ. Failing by chance: ~e^-270.
    assert np.abs(weights).max() > 3 * sigma


def test_fan_in_normal_scales_with_its_parameter_and_counts_the_receptive_field():
    weights = sample("fan_in_normal", (3, 3, 64, 64), scale=2.0)
    # fan_in = 3·3·64 = 576; n = 36,864, relative standard error of the variance √(2/n) = 0.74 %; six of them.
    assert weights.var() == pytest.approx(2.0 / 576, rel=6 * math.sqrt(2 / weights.size))


ORTHOGONAL_SHAPES = {  # kernel shape -> which side is orthonormal
    "784->128 dense": ((784, 128), "units"),  # fan_out <= fan_in: the output units' directions are orthonormal
    "3x3 16->32 conv": ((3, 3, 16, 32), "units"),  # flattened (144, 32)
    "10->128 dense": ((10, 128), "inputs"),  # more units than inputs: the 10 input rows are orthonormal
}


@pytest.mark.parametrize("case", sorted(ORTHOGONAL_SHAPES))
def test_orthogonal_directions_are_orthonormal_on_the_smaller_side(case):
    shape, side = ORTHOGONAL_SHAPES[case]
    flat = sample("orthogonal", shape).reshape(-1, shape[-1])  # (fan_in, units), as PyTorch's (units, fan_in)ᵀ
    gram = flat.T @ flat if side == "units" else flat @ flat.T
    np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-5)  # float32 QR: measured ~1e-6
    if side == "units":
        # Unit-norm directions: under PyTorch's default g = ‖v‖ = 1 the effective kernel is v itself (§A4).
        np.testing.assert_allclose(np.linalg.norm(flat, axis=0), 1.0, atol=1e-5)
