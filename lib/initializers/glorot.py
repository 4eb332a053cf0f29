"""Glorot & Bengio (2010)'s initializers and the one the xavier_init code actually used."""

import math

from lib.initializers import INITIALIZERS

# xavier_init's "random" init: U[-sqrt(0.001), +sqrt(0.001)] for every layer whatever its fan-in.
XAVIER_INIT_RANDOM_LIMIT = math.sqrt(0.001)


@INITIALIZERS.register("standard")
def standard(seed: int):
    """Glorot & Bengio Eq. 1: U[-1/sqrt(fan_in), +1/sqrt(fan_in)], so fan_in * Var[W] = 1/3 (Eq. 15).

    VarianceScaling with scale 1/3 and fan_in mode draws U[-sqrt(3 * scale / fan_in), ...],
    which is exactly this bound.
    """
    import keras

    return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in", distribution="uniform", seed=seed)


@INITIALIZERS.register("normalized")
def normalized(seed: int):
    """Glorot & Bengio Eq. 16: U[-sqrt(6/(fan_in+fan_out)), +sqrt(6/(fan_in+fan_out))] (what --xavier selects)."""
    import keras

    return keras.initializers.GlorotUniform(seed=seed)


@INITIALIZERS.register("xavier_init_random")
def xavier_init_random(seed: int):
    """U[-sqrt(0.001), +sqrt(0.001)] on every layer: what the xavier_init code used without --xavier."""
    import keras

    return keras.initializers.RandomUniform(-XAVIER_INIT_RANDOM_LIMIT, XAVIER_INIT_RANDOM_LIMIT, seed=seed)
