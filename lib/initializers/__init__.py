"""Weight initializers as registry entries, one seeded instance per layer.

glorot.py: the paper's Eq. 1 and Eq. 16 and xavier_init's random init; keras_builtins.py: Keras'
own initializers by name; beyond_sigprop.py: ConstNet's and LeakyNet's channel patterns
(channel_patterns.py) and Gaussian inits; leakynet_codes.py: LeakyNet's per-layer `--init` codes.
Every entry is `build(seed, **parameters)`; parameters have defaults, so a test can build each one.

A seeded Keras initializer *instance* returns the same tensor on every call, so sharing one
across layers would give identical weights (reference/keras_stack.md §3). `make` therefore
builds a fresh instance per layer with a seed derived from (run seed, layer index).
Keras is imported inside the builders so that the command line can list and check the
names before TensorFlow starts.
"""

import numpy as np

from lib.registry import Registry

INITIALIZERS = Registry("initializer")


def layer_seed(run_seed: int, layer_index: int) -> int:
    """A seed for one layer, derived from the run seed and the layer's position."""
    return int(np.random.SeedSequence([run_seed, layer_index]).generate_state(1)[0] % (2**31 - 1))


def make(name: str, run_seed: int, layer_index: int):
    """A fresh initializer instance for layer `layer_index` of a run seeded with `run_seed`."""
    return INITIALIZERS.build(name, seed=layer_seed(run_seed, layer_index))


# Registered in this order (the order --help lists them): the paper's first.
from lib.initializers import glorot, keras_builtins, beyond_sigprop, torch_default, weight_norm  # noqa: E402,F401,I001
