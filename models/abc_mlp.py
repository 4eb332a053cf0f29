"""Fully connected networks in an abc-parameterization (reference/weightnorm_abc.md §B1, §B2).

`abc_mlp` builds the reference's FC abc net: n_layers = L + 1 `ABCDense` layers, each computing
h_l = m^{−a_l}·(x W_l + b_l) (IP-LLR-bias: m^{−a_l}·x W_l + b_l) with W_l = m^{−b_l}·U_l stored as the
kernel, and the same activation after every layer but the last. The exponents come from
`lib.studies.abc.parameterizations`; the layers hold the resulting constants: the multiplier, which
the forward pass applies, and the learning-rate scales m^{−c}, which `lr_scales(model)` collects for
`lib.optimizers.scaled_lr.ScaledLearningRate`:

    p = parameterization("ipllr", 7, activation="relu")
    model = MODELS.build("abc_mlp", (784,), 10, seed=0, parameterization="ipllr", n_layers=7, width=1024)
    optimizer = ScaledLearningRate(keras.optimizers.SGD(0.01), lr_scales(model),
                                   warmup_scales=lr_scales(model, warmup=True), n_warmup_steps=p.n_warmup_steps)

Layer names (the reference's layer index l): `input_layer` (l = 0) → `act_0`, `hidden_<l>` → `act_<l>` for
l = 1..L−1, then `output_layer` (l = L, the logits, no activation). Pre-activations h_l are the
ABCDense outputs, so they are observable by name. Images are flattened first (`flatten`), d = their size.
"""

import math

import keras
from keras import ops

from lib.initializers import layer_seed
from lib.studies.abc.parameterizations import parameterization as make_parameterization
from models import MODELS

# §B3's activation registry as Keras layers; elu's alpha and leaky_relu's slope are PyTorch's defaults
# unless the yaml's activation.params set them (Keras' LeakyReLU defaults to 0.2).
LEAKY_RELU_SLOPE = 0.01
ELU_ALPHA = 1.0
KERAS_ACTIVATIONS = {"relu": "relu", "gelu": "gelu", "elu": "elu", "tanh": "tanh", "sigmoid": "sigmoid",
                     "identity": "linear"}


@keras.saving.register_keras_serializable(package="initlab")
class ABCDense(keras.layers.Layer):
    """A dense layer of an abc-parameterization: h = multiplier·(x W + b), or multiplier·x W + b when
    `bias_in_multiplier` is False (§B1: "The multiplier also scales the bias"; §B2 IP-LLR-bias: it does not).

    The multiplier m^{−a} is a constant of the layer, not a variable. `lr_scale` / `bias_lr_scale` are
    the m^{−c} of its kernel and bias after the warm-up, `warmup_lr_scale` / `warmup_bias_lr_scale`
    those during it (None: no warm-up); a bias scale left None is the kernel's. The layer only carries
    them for `lr_scales(model)`.
    """

    def __init__(self, units: int, *, multiplier: float = 1.0, use_bias: bool = True, bias_in_multiplier: bool = True,
                 kernel_initializer="zeros", bias_initializer="zeros", lr_scale: float = 1.0,
                 bias_lr_scale: float | None = None, warmup_lr_scale: float | None = None,
                 warmup_bias_lr_scale: float | None = None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.multiplier = float(multiplier)
        self.use_bias = bool(use_bias)
        self.bias_in_multiplier = bool(bias_in_multiplier)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.lr_scale = float(lr_scale)
        self.bias_lr_scale = self.lr_scale if bias_lr_scale is None else float(bias_lr_scale)
        self.warmup_lr_scale = None if warmup_lr_scale is None else float(warmup_lr_scale)
        if warmup_bias_lr_scale is not None and warmup_lr_scale is None:
            raise ValueError(f"{self.name}: a warm-up scale for the bias needs one for the kernel")
        self.warmup_bias_lr_scale = self.warmup_lr_scale if warmup_bias_lr_scale is None else float(warmup_bias_lr_scale)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer) \
            if self.use_bias else None

    def call(self, inputs):
        h = ops.matmul(inputs, self.kernel)
        if self.bias is not None and self.bias_in_multiplier:
            h = ops.add(h, self.bias)
        h = ops.multiply(h, ops.cast(self.multiplier, h.dtype))
        if self.bias is not None and not self.bias_in_multiplier:
            h = ops.add(h, self.bias)
        return h

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def variable_lr_scales(self, *, warmup: bool = False) -> dict[str, float]:
        """{variable path: m^{−c}} of this layer's kernel and bias, after the warm-up or during it."""
        if warmup and self.warmup_lr_scale is None:
            raise ValueError(f"{self.name} has no warm-up learning-rate scales")
        kernel, bias = (self.warmup_lr_scale, self.warmup_bias_lr_scale) if warmup else (self.lr_scale,
                                                                                          self.bias_lr_scale)
        scales = {self.kernel.path: kernel}
        if self.bias is not None:
            scales[self.bias.path] = bias
        return scales

    def get_config(self):
        return {**super().get_config(), "units": self.units, "multiplier": self.multiplier, "use_bias": self.use_bias,
                "bias_in_multiplier": self.bias_in_multiplier,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "lr_scale": self.lr_scale, "bias_lr_scale": self.bias_lr_scale,
                "warmup_lr_scale": self.warmup_lr_scale, "warmup_bias_lr_scale": self.warmup_bias_lr_scale}


def abc_layers(model: keras.Model) -> list[ABCDense]:
    """The model's ABCDense layers in order: l = 0 (input layer) .. L (output layer)."""
    return [layer for layer in model.layers if isinstance(layer, ABCDense)]


def lr_scales(model: keras.Model, *, warmup: bool = False) -> dict[str, float]:
    """{variable path: learning-rate scale m^{−c}} of every trainable variable, for ScaledLearningRate;
    `warmup=True`: the scales of the first `n_warmup_steps` steps (IP-LLR)."""
    return {path: scale for layer in abc_layers(model) for path, scale in layer.variable_lr_scales(warmup=warmup).items()}


@MODELS.register("abc_mlp", tiny={"width": 16, "n_layers": 3})
def abc_mlp(input_shape, num_classes: int, *, seed: int = 0, parameterization: str = "ipllr", width: int = 1024,
            n_layers: int = 7, activation: str = "relu", bias: bool = False, init_mean: float | None = None,
            c=None, n_warmup_steps: int = 1, scale_bias_lr: bool = True,
            activation_params: dict | None = None) -> keras.Model:
    """The reference's FC abc net (§B1) in `parameterization` (§B2), `n_layers` = L + 1 layers of `width` m.

    Defaults: the IP-LLR job's network (§B5: L = 6, m = 1024, relu; the yaml's `bias: false`). The input
    layer always has a bias (§B1); `bias` adds one to the intermediate and output layers (forced on by
    ipllr_bias). `init_mean`, `c`, `n_warmup_steps`, `scale_bias_lr`: as `parameterization(...)` takes them.
    `activation_params`: the yaml's activation.params (elu's `alpha`, leaky_relu's `negative_slope`).
    Kernel and bias of layer l draw from seeds derived from (seed, 2l) and (seed, 2l + 1), so models of
    different parameterizations built with one seed share their U and v, as the reference's
    `copy_initial_params_from_model` makes them (§B3).
    """
    p = make_parameterization(parameterization, n_layers, activation=activation, c=c, n_warmup_steps=n_warmup_steps,
                              init_mean=init_mean, scale_bias_lr=scale_bias_lr)
    input_dim = math.prod(input_shape)
    multipliers = p.multipliers(width)
    weight_lrs, bias_lrs = p.lr_scales(width), p.bias_lr_scales(width)
    warmup_weight_lrs = p.lr_scales(width, warmup=True) if p.has_warmup else (None,) * n_layers
    warmup_bias_lrs = p.bias_lr_scales(width, warmup=True) if p.has_warmup else (None,) * n_layers

    inputs = keras.Input(tuple(input_shape), name="input")
    x = keras.layers.Flatten(name="flatten")(inputs) if len(input_shape) > 1 else inputs
    for layer in range(n_layers):
        output = layer == p.hidden_layers
        mean, std = p.kernel_init(layer, width, input_dim)
        x = ABCDense(num_classes if output else width, multiplier=multipliers[layer],
                     use_bias=layer == 0 or bias or p.force_bias, bias_in_multiplier=p.bias_in_multiplier,
                     kernel_initializer=keras.initializers.RandomNormal(mean, std, seed=layer_seed(seed, 2 * layer)),
                     bias_initializer=keras.initializers.RandomNormal(0.0, p.bias_init_std(layer, width),
                                                                      seed=layer_seed(seed, 2 * layer + 1)),
                     lr_scale=weight_lrs[layer], bias_lr_scale=bias_lrs[layer], warmup_lr_scale=warmup_weight_lrs[layer],
                     warmup_bias_lr_scale=warmup_bias_lrs[layer],
                     dtype="float32" if output else None,  # float32 logits under mixed precision
                     name="output_layer" if output else ("input_layer" if layer == 0 else f"hidden_{layer}"))(x)
        if not output:
            x = _activation(activation, f"act_{layer}", activation_params or {})(x)
    return keras.Model(inputs, x, name="abc_mlp")


def _activation(name: str, layer_name: str, params: dict) -> keras.layers.Layer:
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(negative_slope=params.get("negative_slope", LEAKY_RELU_SLOPE), name=layer_name)
    if name == "elu":
        return keras.layers.ELU(alpha=params.get("alpha", ELU_ALPHA), name=layer_name)
    return keras.layers.Activation(KERAS_ACTIVATIONS[name], name=layer_name)
