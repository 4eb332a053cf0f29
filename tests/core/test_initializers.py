"""Initializer registry: the paper's uniform bounds and variances, per-layer seeding (reference/glorot.md §1.4, §4.1-4.2)."""

import math

import keras
import numpy as np
import pytest

from lib import initializers
from lib.initializers import INITIALIZERS

# The layer shapes of the paper's Shapeset network: input 1024 -> 1000, hidden 1000 -> 1000, output 1000 -> 9.
GLOROT_SHAPES = ((1024, 1000), (1000, 1000), (1000, 9))

# The bound of each uniform init written out from the paper, independently of the code under test.
PAPER_BOUNDS = {
    "standard": lambda fan_in, fan_out: 1 / math.sqrt(fan_in),  # Eq. 1
    "normalized": lambda fan_in, fan_out: math.sqrt(6) / math.sqrt(fan_in + fan_out),  # Eq. 16
    "xavier_init_random": lambda fan_in, fan_out: math.sqrt(0.001),  # xavier_init's RandomUniform
}

# A conv kernel shape (kh, kw, C_in, C_out), which every entry accepts (the channel patterns need one),
# small enough to build every registered entry quickly, large enough to be random.
SMALL_SHAPE = (3, 3, 4, 6)
# Entries whose kernel is a fixed pattern, the same for every seed.
DETERMINISTIC = ("zeros", "ones", "channel_average", "channel_identity")


def sample(name, shape, run_seed=0, layer_index=1, tiny=False):
    initializer = INITIALIZERS.build(name, seed=initializers.layer_seed(run_seed, layer_index), tiny=tiny)
    return keras.ops.convert_to_numpy(initializer(shape))


@pytest.mark.parametrize("shape", GLOROT_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("name", sorted(PAPER_BOUNDS))
def test_uniform_init_has_the_paper_bound_and_variance(name, shape):
    bound = PAPER_BOUNDS[name](*shape)
    weights = sample(name, shape).astype(np.float64)
    n = weights.size
    assert weights.shape == shape
    assert np.abs(weights).max() <= bound * (1 + 1e-6)  # float32 rounding of the bound only
    # For U[-b, b], P(max|w| < b(1 - e)) = (1 - e)^n ~ exp(-n e); e = 30/n leaves a chance of e^-30.
    assert np.abs(weights).max() >= bound * (1 - 30 / n)
    # Var = b²/3; the sample variance's relative standard error is sqrt(0.8/n) for a uniform
    # distribution (excess kurtosis -6/5). Six standard errors: 0.5 % at n ~ 1e6, 5.7 % at n = 9000.
    # A wrong bound formula (e.g. sqrt(3/fan_in), or fan_in alone for Eq. 16) is off by far more.
    variance = weights.var()
    assert variance == pytest.approx(bound**2 / 3, rel=6 * math.sqrt(0.8 / n))
    # Centred: the mean's standard error is b / sqrt(3n); six of them.
    assert abs(weights.mean()) <= 6 * bound / math.sqrt(3 * n)


def test_paper_variances_satisfy_eqs_15_and_12():
    # Eq. 15: n·Var[W] = 1/3 for the standard init; Eq. 12: Var[W] = 2/(n_in + n_out) for the normalized one.
    # Sample variances: relative standard error sqrt(0.8/n) ~ 9e-4 at n ~ 1e6; six of them.
    fan_in, fan_out = 1000, 1000
    rel = 6 * math.sqrt(0.8 / (fan_in * fan_out))
    assert fan_in * sample("standard", (fan_in, fan_out)).var(dtype=np.float64) == pytest.approx(1 / 3, rel=rel)
    assert sample("normalized", (fan_in, fan_out)).var(dtype=np.float64) == pytest.approx(2 / (fan_in + fan_out),
                                                                                          rel=rel)


@pytest.mark.parametrize("name", sorted(PAPER_BOUNDS))
def test_layers_of_the_same_shape_get_different_weights(name):
    first, second = sample(name, (1000, 1000), layer_index=2), sample(name, (1000, 1000), layer_index=3)
    # Independent continuous draws: an equal pair of floats is a ~1e-7 event per element.
    assert np.mean(first == second) < 1e-3
    # And not a permutation or sign flip of each other: correlation ~ N(0, 1/sqrt(n)) = 0.001; allow 0.01.
    assert abs(np.corrcoef(first.ravel(), second.ravel())[0, 1]) < 0.01


@pytest.mark.parametrize("name", sorted(PAPER_BOUNDS))
def test_same_run_seed_and_layer_reproduce_the_weights(name):
    # Two separate instances, as two runs would build them.
    np.testing.assert_array_equal(sample(name, (1000, 9), run_seed=7, layer_index=4),
                                  sample(name, (1000, 9), run_seed=7, layer_index=4))


@pytest.mark.parametrize("name", sorted(PAPER_BOUNDS))
def test_a_different_run_seed_changes_the_weights(name):
    first, second = sample(name, (1000, 9), run_seed=7), sample(name, (1000, 9), run_seed=8)
    assert np.mean(first == second) < 1e-2


def test_layer_seeds_are_distinct_and_stable():
    seeds = {initializers.layer_seed(run_seed, layer) for run_seed in range(5) for layer in range(1, 6)}
    assert len(seeds) == 25
    assert all(0 <= seed < 2**31 - 1 for seed in seeds)
    assert initializers.layer_seed(3, 2) == initializers.layer_seed(3, 2)


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_every_registered_initializer_builds_an_array_of_the_right_shape(name):
    initializer = INITIALIZERS.build(name, seed=1, tiny=True)
    assert isinstance(initializer, keras.initializers.Initializer)
    values = keras.ops.convert_to_numpy(initializer(SMALL_SHAPE))
    assert values.shape == SMALL_SHAPE
    assert np.isfinite(values).all()


@pytest.mark.parametrize("name", INITIALIZERS.names())
def test_seeded_entries_reproduce_and_vary_by_layer(name):
    # Keras built-ins obtained by name are unseeded; the registry must give each layer its own seed.
    np.testing.assert_array_equal(sample(name, SMALL_SHAPE, 0, 1, tiny=True), sample(name, SMALL_SHAPE, 0, 1, tiny=True))
    differs = not np.array_equal(sample(name, SMALL_SHAPE, 0, 1, tiny=True), sample(name, SMALL_SHAPE, 0, 2, tiny=True))
    assert differs == (name not in DETERMINISTIC)


def test_constant_builtins_give_their_constants():
    np.testing.assert_array_equal(sample("zeros", SMALL_SHAPE), np.zeros(SMALL_SHAPE))
    np.testing.assert_array_equal(sample("ones", SMALL_SHAPE), np.ones(SMALL_SHAPE))


@pytest.mark.parametrize("name", sorted(PAPER_BOUNDS))
def test_paper_initializers_survive_serialization(name):
    # A saved model must reload with the same initializer (DESIGN.md principle 4).
    initializer = initializers.make(name, 0, 1)
    restored = keras.initializers.deserialize(keras.initializers.serialize(initializer))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored((50, 40))),
                                  keras.ops.convert_to_numpy(initializer((50, 40))))
