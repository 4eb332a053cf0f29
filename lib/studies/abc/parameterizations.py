"""abc-parameterizations of a fully connected network as data (reference/weightnorm_abc.md §B1, §B2).

A network of `n_layers` = L + 1 weight matrices (the reference's `architecture.n_layers`; layer 0 is
the input layer d → m, layers 1..L−1 the intermediate m → m, layer L the output m → k) has per layer
three exponents of the width m (§B1):

- a_l, the layer multiplier: h_l = m^{−a_l}·(W_l x_{l−1} + bias_l), the multiplier scaling the bias too;
- b_l, the init scale: W_l = m^{−b_l}·U_l with U_l a width-independent Gaussian (`Parameterization.kernel_init`);
- c_l, the learning-rate scale: lr_l = η·m^{−c_l}, η the base learning rate.

`parameterization(name, n_layers, ...)` returns the exponents of one named parameterization exactly as
§B2 lists them (the table rows are cited in comments); `sigma2(activation)` is §B1's σ². Nothing here
imports Keras: the model (models/abc_mlp.py) and the optimizer (lib/optimizers/scaled_lr.py) read
these numbers.

`sp` is not in the reference code. It is the standard parameterization, the baseline of mup's
coordinate check (§C7: PyTorch's fan-in init and one learning rate for every layer). In the abc
notation of this module, where U is width-independent, "fan-in init" is b = ½ on every layer whose
fan-in is m: a = 0, b = (0, ½, …, ½), c = 0, i.e. effective weights input N(0, σ²/(d+1)), intermediate
N(0, σ²/m), output N(0, 1/m), every raw learning rate η. At init it computes the same function as NTK
(whose a = ½ moves the same m^{−½} into the multiplier); they differ in training, NTK's effective
learning rates being m^{−1} times SP's on every layer but the input layer.
"""

import math
from dataclasses import dataclass

PARAMETERIZATIONS = ("ntk", "mup", "ip", "naive_ip", "ipllr", "ipllr_bias", "ip_non_centered", "sp")

# The activations of the reference's registry (§B3); `identity` is f(x) = x.
ACTIVATIONS = ("relu", "gelu", "elu", "tanh", "sigmoid", "leaky_relu", "identity")

# §B1 "Activation-dependent variance": relu 2, gelu 4, elu and tanh 1, anything else 2.
_SIGMA2 = {"relu": 2.0, "gelu": 4.0, "elu": 1.0, "tanh": 1.0}
_DEFAULT_SIGMA2 = 2.0

NON_CENTERED_MEAN = 1.0  # §B2 IP-non-centered: "the intermediate and output U are drawn with mean 1"


def sigma2(activation: str) -> float:
    """σ² of the input and intermediate U for `activation` (§B1); the output U always has variance 1.

    The yaml `initializer.params.var` is ignored by the reference whenever an activation is named (§B1's
    quirk), which it always is, so σ² is a function of the activation alone.
    """
    return _SIGMA2.get(activation, _DEFAULT_SIGMA2)


@dataclass(frozen=True)
class Parameterization:
    """The exponents of one abc-parameterization, per layer l = 0..L (input, intermediate…, output).

    `c` (and `bias_c`) are the learning-rate exponents in force from step `n_warmup_steps` on; IP-LLR's
    large first-step exponents are `warmup_c` (`warmup_bias_c`), used while the optimizer has taken
    fewer than `n_warmup_steps` steps (§B2's `WarmupSwitchLR`). `bias_c` None: a layer's bias has its
    weight's exponent (the reference's one parameter group per layer).
    """

    name: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    c: tuple[float, ...]
    sigma2: float  # σ² of U for the input (÷(d+1)) and intermediate layers (§B1)
    init_mean: float = 0.0  # μ₀ of the intermediate and output U; the input U is always centered (§B1)
    scale_bias: bool = True  # bias init multiplied by m^{−b_l} (§B1 `scale_bias`, default True)
    bias_in_multiplier: bool = True  # h = m^{−a}(Wx + b); False: h = m^{−a}Wx + b (IP-LLR-bias, §B2)
    force_bias: bool = False  # every layer has a bias, whatever the architecture says (IP-LLR-bias, §B2)
    bias_c: tuple[float, ...] | None = None
    warmup_c: tuple[float, ...] | None = None
    warmup_bias_c: tuple[float, ...] | None = None
    n_warmup_steps: int = 0

    def __post_init__(self):
        n = len(self.a)
        if n < 2:
            raise ValueError(f"an abc network has at least an input and an output layer; got {n} exponents")
        for field_name in ("b", "c", "bias_c", "warmup_c", "warmup_bias_c"):
            value = getattr(self, field_name)
            if value is not None and len(value) != n:
                raise ValueError(f"{self.name}: {field_name} has {len(value)} exponents, a has {n}")
        if (self.warmup_c is None) != (self.n_warmup_steps == 0):
            raise ValueError(f"{self.name}: warm-up exponents and n_warmup_steps > 0 go together")
        if self.warmup_bias_c is not None and self.warmup_c is None:
            raise ValueError(f"{self.name}: warm-up bias exponents need warm-up weight exponents")

    @property
    def n_layers(self) -> int:
        """L + 1, the number of weight matrices."""
        return len(self.a)

    @property
    def hidden_layers(self) -> int:
        """L, the number of hidden layers (of width m)."""
        return len(self.a) - 1

    @property
    def has_warmup(self) -> bool:
        return self.n_warmup_steps > 0

    def multipliers(self, width: int) -> tuple[float, ...]:
        """m^{−a_l}: the constant each layer's output is multiplied by."""
        return _powers(width, self.a)

    def init_scales(self, width: int) -> tuple[float, ...]:
        """m^{−b_l}: W_l = m^{−b_l}·U_l."""
        return _powers(width, self.b)

    def lr_scales(self, width: int, *, warmup: bool = False) -> tuple[float, ...]:
        """m^{−c_l} of the weights: after the warm-up, or during it (`warmup=True`, IP-LLR only)."""
        return _powers(width, self._exponents(self.c, self.warmup_c, warmup))

    def bias_lr_scales(self, width: int, *, warmup: bool = False) -> tuple[float, ...]:
        """m^{−c_l} of the biases (those of the weights unless the parameterization sets them apart)."""
        if self.bias_c is None:
            return self.lr_scales(width, warmup=warmup)
        warm = self.warmup_bias_c if self.warmup_bias_c is not None else self.warmup_c
        return _powers(width, self._exponents(self.bias_c, warm, warmup))

    def kernel_init(self, layer: int, width: int, input_dim: int) -> tuple[float, float]:
        """(mean, std) of the stored W_l = m^{−b_l}·U_l (§B1's init table).

        U: input N(0, σ²/(d+1)), always centered; intermediate N(μ₀, σ²); output N(μ₀, 1).
        """
        scale = self.init_scales(width)[layer]
        if layer == 0:
            return 0.0, scale * math.sqrt(self.sigma2 / (input_dim + 1))
        std = 1.0 if layer == self.hidden_layers else math.sqrt(self.sigma2)
        return scale * self.init_mean, scale * std

    def bias_init_std(self, layer: int, width: int) -> float:
        """Std of the stored bias: N(0, σ²), the output's N(0, 1), times m^{−b_l} when `scale_bias` (§B1)."""
        std = 1.0 if layer == self.hidden_layers else math.sqrt(self.sigma2)
        return std * (self.init_scales(width)[layer] if self.scale_bias else 1.0)

    def _exponents(self, after, during, warmup: bool):
        if not warmup:
            return after
        if during is None:
            raise ValueError(f"{self.name} has no warm-up learning rates")
        return during


def _powers(width: int, exponents) -> tuple[float, ...]:
    if width < 1:
        raise ValueError(f"width must be positive, got {width}")
    return tuple(float(width) ** (-e) for e in exponents)


def parameterization(name: str, n_layers: int, *, activation: str = "relu", c=None, n_warmup_steps: int = 1,
                     init_mean: float | None = None, scale_bias_lr: bool = True) -> Parameterization:
    """The parameterization `name` of a network with `n_layers` = L + 1 weight matrices (§B2).

    `c`: the learning-rate exponents of the generic `ip` (a number for every layer, or one per layer;
    default 0), which the reference passes in; the other parameterizations fix theirs.
    `n_warmup_steps`: steps taken with IP-LLR's large learning rates before the switch (§B2, default 1).
    `init_mean`: μ₀ of the intermediate and output U (the reference's `initializer.params.mean`);
    default 0, or 1 for `ip_non_centered`.
    `scale_bias_lr`: `ipllr_bias` only; False makes every bias learning-rate scale 1 (§B2).
    """
    if name not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization '{name}' (valid: {', '.join(PARAMETERIZATIONS)})")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation '{activation}' (valid: {', '.join(ACTIVATIONS)})")
    if n_layers < 2:
        raise ValueError(f"n_layers counts the weight matrices (L + 1) and must be at least 2, got {n_layers}")
    if c is not None and name != "ip":
        raise ValueError(f"c is fixed by {name}; only the generic ip takes it")
    if not scale_bias_lr and name != "ipllr_bias":
        raise ValueError("scale_bias_lr applies to ipllr_bias only")
    if name in ("ipllr", "ipllr_bias") and n_warmup_steps < 1:
        raise ValueError(f"n_warmup_steps must be at least 1, got {n_warmup_steps}")
    hidden = n_layers - 1  # L
    common = {"name": name, "sigma2": sigma2(activation),
              "init_mean": (NON_CENTERED_MEAN if name == "ip_non_centered" else 0.0) if init_mean is None
              else float(init_mean)}
    zeros = (0.0,) * n_layers
    ip_a = (0.0,) + (1.0,) * hidden  # §B2 "IP generic": a = (0, 1, …, 1), b = 0
    # §B2 Naive-IP: c = (−1, −2, …, −2, −1), "the standard mean-field LRs" (also IP-LLR's after the switch)
    mean_field_c = (-1.0,) + (-2.0,) * (hidden - 1) + (-1.0,)

    if name == "ntk":  # §B2 NTK: a = (0, ½, …, ½), b = 0, c = 0
        return Parameterization(a=(0.0,) + (0.5,) * hidden, b=zeros, c=zeros, **common)
    if name == "mup":  # §B2 μP: a = (−½, 0, …, 0, ½), b = ½ everywhere, c = 0
        return Parameterization(a=(-0.5,) + (0.0,) * (hidden - 1) + (0.5,), b=(0.5,) * n_layers, c=zeros, **common)
    if name == "sp":  # the standard parameterization (module docstring): a = 0, b = (0, ½, …, ½), c = 0
        return Parameterization(a=zeros, b=(0.0,) + (0.5,) * hidden, c=zeros, **common)
    if name == "ip":  # §B2 IP generic: c passed in
        return Parameterization(a=ip_a, b=zeros, c=_per_layer(0.0 if c is None else c, n_layers), **common)
    if name in ("naive_ip", "ip_non_centered"):  # §B2 Naive-IP; IP-non-centered = Naive-IP with μ₀ = 1
        return Parameterization(a=ip_a, b=zeros, c=mean_field_c, **common)
    if name == "ipllr":
        # §B2 IP-LLR: steps t < n_warmup_steps: (−(L+1)/2, −(L+2)/2, …, −(L+2)/2, −(L+1)/2); then Naive-IP's c
        warmup_c = (-(hidden + 1) / 2,) + (-(hidden + 2) / 2,) * (hidden - 1) + (-(hidden + 1) / 2,)
        return Parameterization(a=ip_a, b=zeros, c=mean_field_c, warmup_c=warmup_c, n_warmup_steps=n_warmup_steps,
                                **common)
    # ipllr_bias, §B2 IP-LLR-bias (1-indexed layers l = 1..L+1 there): h = W·(m^{−a}x) + b, bias not scaled
    # at init, every layer has a bias;
    # weight c at step 1: (−(L+1)/2, −(L−l+4)/2 for l = 2..L, −1); after the switch Naive-IP's;
    # bias c at step 1: (−(L−l+2)/2 for l = 1..L, 0); after the switch (−1, …, −1, 0);
    # scale_bias_lr False: every bias LR scale is 1.
    warmup_c = (-(hidden + 1) / 2,) + tuple(-(hidden - layer + 4) / 2 for layer in range(2, hidden + 1)) + (-1.0,)
    if scale_bias_lr:
        warmup_bias_c = tuple(-(hidden - layer + 2) / 2 for layer in range(1, hidden + 1)) + (0.0,)
        bias_c = (-1.0,) * hidden + (0.0,)
    else:
        warmup_bias_c = bias_c = zeros
    return Parameterization(a=ip_a, b=zeros, c=mean_field_c, scale_bias=False, bias_in_multiplier=False,
                            force_bias=True, bias_c=bias_c, warmup_c=warmup_c, warmup_bias_c=warmup_bias_c,
                            n_warmup_steps=n_warmup_steps, **common)


def _per_layer(value, n_layers: int) -> tuple[float, ...]:
    """A number for every layer, or one per layer (the reference broadcasts a scalar c, §B1)."""
    if isinstance(value, (int, float)):
        return (float(value),) * n_layers
    values = tuple(float(v) for v in value)
    if len(values) == 1:
        return values * n_layers
    if len(values) != n_layers:
        raise ValueError(f"c has {len(values)} exponents for {n_layers} layers")
    return values
