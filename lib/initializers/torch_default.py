"""PyTorch's default nn.Linear initialization as registry entries: weight and bias ~ U(-1/sqrt(fan_in), +1/sqrt(fan_in)).

The diversity study's networks use it, as DiversityNN does (reference/diversity.md §1.1, §2.2). The
kernel's bound comes from its own shape (fan_in = the product of all but the last dimension, as
Keras counts it); a bias has no fan-in of its own, so its entry takes the layer's. The Keras
classes live in torch_linear.py, imported when an entry is built, so the command line can list
the names before Keras starts.
"""

from lib.initializers import INITIALIZERS

BIAS_ONLY = ("torch_linear_bias",)  # not a kernel initializer: studies that list kernel inits leave it out


@INITIALIZERS.register("torch_linear_kernel")
def torch_linear_kernel(seed: int):
    """PyTorch's nn.Linear weight: U(+-1/sqrt(fan_in)) (VarianceScaling(1/3, fan_in, uniform) has the same law)."""
    from lib.initializers.torch_linear import TorchLinearKernel

    return TorchLinearKernel(seed=seed)


@INITIALIZERS.register("torch_linear_bias")
def torch_linear_bias(seed: int, fan_in: int = 1):
    """PyTorch's nn.Linear bias: U(+-1/sqrt(fan_in)) with the layer's fan_in (default 1: a one-input layer)."""
    from lib.initializers.torch_linear import TorchLinearBias

    return TorchLinearBias(fan_in, seed=seed)
