"""Keras' built-in initializers as registry entries, each with its Keras defaults and a per-layer seed."""

from lib.initializers import INITIALIZERS

# Keras built-ins usable by name (keras.initializers.get), each also a registry entry.
# ("constant" is left out: it needs a value, which a name alone cannot give.)
KERAS_BUILTINS = (
    "glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
    "orthogonal", "random_uniform", "random_normal", "truncated_normal", "variance_scaling",
    "zeros", "ones",
)


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
