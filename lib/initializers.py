"""Weight initializers as registry entries, one seeded instance per layer.

A seeded Keras initializer *instance* returns the same tensor on every call, so sharing one
across layers would give identical weights (reference/keras_stack.md §3). `make` therefore
builds a fresh instance per layer with a seed derived from (run seed, layer index).
Keras is imported inside the builders so that the command line can list and check the
names before TensorFlow starts.
"""

import math

import numpy as np

from lib.registry import Registry

INITIALIZERS = Registry("initializer")

# Keras built-ins usable by name (keras.initializers.get), each also a registry entry.
# ("constant" is left out: it needs a value, which a name alone cannot give.)
KERAS_BUILTINS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "orthogonal", "random_uniform", "random_normal", "truncated_normal", "variance_scaling",
    "zeros", "ones",
)

# xavier_init's "random" init: U[-sqrt(0.001), +sqrt(0.001)] for every layer whatever its fan-in.
XAVIER_INIT_RANDOM_LIMIT = math.sqrt(0.001)


def layer_seed(run_seed: int, layer_index: int) -> int:
    """A seed for one layer, derived from the run seed and the layer's position."""
    return int(np.random.SeedSequence([run_seed, layer_index]).generate_state(1)[0] % (2**31 - 1))


def make(name: str, run_seed: int, layer_index: int):
    """A fresh initializer instance for layer `layer_index` of a run seeded with `run_seed`."""
    return INITIALIZERS.build(name, seed=layer_seed(run_seed, layer_index))


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


def _keras_builtin(name: str):
    def build(seed: int):
        import keras

        initializer = keras.initializers.get(name)
        config = initializer.get_config()
        if "seed" in config:
            initializer = initializer.__class__.from_config({**config, "seed": seed})
        return initializer

    build.__doc__ = f"Keras built-in '{name}'."
    return build


for _name in KERAS_BUILTINS:
    INITIALIZERS.add(_name, _keras_builtin(_name))
