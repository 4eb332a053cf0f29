"""Model builders, one module per family; `MODELS` maps names to builders."""

from lib.registry import Registry

MODELS = Registry("model")

from models import abc_mlp, feedforward, leakynet, learned_activation, weightnorm_nets, wide_resnet  # noqa: E402,F401  (registers their entries)
