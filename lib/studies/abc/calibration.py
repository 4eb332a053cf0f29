"""IP-LLR's optional first-step base-learning-rate calibration (reference/weightnorm_abc.md §B2,
`calibrate_base_lr=True` in `fc_ipllr_run.py`): per-layer base rates for the warm-up steps, chosen so
that the first update moves each intermediate pre-activation by about 1 on average.

1. On a copy of the model, one SGD step on batch 0 with the warm-up scales m^{−c} as rates (base 1).
2. On batch 1, layer by layer: the input layer keeps the base rate η; for each intermediate layer,
   base_l = 1 / mean|m^{−a_l}·x ΔW_l|, capped at `MAX_BASE_LR`; for the output layer,
   base_L = `OUTPUT_SCALE` / mean|m^{−a_L}·x ΔW_L|. The x fed to layer l is the activation of
   h_{l−1}(init) + base_{l−1}·Δh_{l−1}, i.e. what the calibrated first update produces.

As in the reference, a layer's update contribution is its kernel's (ΔW) alone, except the input layer's,
which has its bias's too (it only propagates; η is kept). The base rates replace η during the warm-up
(`calibrated_warmup_scales`), for a layer's kernel and, when it shares the layer's rate, its bias;
after the switch every layer is back on η.
"""

import keras
from keras import ops

from lib.optimizers.scaled_lr import ScaledLearningRate
from models.abc_mlp import abc_layers, lr_scales

MAX_BASE_LR = 500.0  # §B2 step 3: "capped at MAX_BASE_LR = 500 (branch: 1000)"
OUTPUT_SCALE = 0.1  # §B2 step 4: "Output layer: 0.1 / mean|ΔW·x| (branch: CALIBRATION_SCALE = 1.0)"


def calibrate_base_lrs(model: keras.Model, batches, learning_rate: float, *, loss=None,
                       max_base_lr: float = MAX_BASE_LR, output_scale: float = OUTPUT_SCALE) -> list[float]:
    """The warm-up base rates [base_0 = η, base_1, …, base_L] of an abc_mlp with warm-up scales.

    `batches`: the first two training batches ((x0, y0), (x1, y1)); `loss`: the training loss (default:
    sparse categorical cross-entropy on logits, the reference's `cross_entropy`). `model` is not changed.
    """
    (x0, y0), (x1, _) = batches
    stepped = keras.models.clone_model(model)
    stepped.set_weights(model.get_weights())
    stepped.compile(optimizer=ScaledLearningRate(keras.optimizers.SGD(1.0), lr_scales(model, warmup=True)),
                    loss=loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    stepped.train_on_batch(x0, y0)

    initial, updated = abc_layers(model), abc_layers(stepped)
    last = len(initial) - 1
    x = ops.convert_to_tensor(x1)
    if len(x.shape) > 2:
        x = ops.reshape(x, (x.shape[0], -1))
    base_lrs = []
    for index, (layer, after) in enumerate(zip(initial, updated, strict=True)):
        delta_kernel = ops.subtract(after.kernel, layer.kernel)
        update = ops.multiply(ops.matmul(x, delta_kernel), layer.multiplier)
        if index == 0 and layer.bias is not None:
            delta_bias = ops.subtract(after.bias, layer.bias)
            update = ops.add(update, ops.multiply(delta_bias, layer.multiplier if layer.bias_in_multiplier else 1.0))
        mean_update = float(ops.convert_to_numpy(ops.mean(ops.abs(update))))
        if index == 0:
            base = float(learning_rate)
        elif mean_update == 0:
            raise ValueError(f"the first update leaves {layer.name}'s pre-activations unchanged: nothing to calibrate")
        elif index == last:
            base = output_scale / mean_update
        else:
            base = min(1.0 / mean_update, max_base_lr)
        base_lrs.append(base)
        if index < last:
            x = model.get_layer(f"act_{index}")(ops.add(layer(x), ops.multiply(update, base)))
    return base_lrs


def calibrated_warmup_scales(model: keras.Model, parameterization, base_lrs, learning_rate: float) -> dict[str, float]:
    """Warm-up scales for ScaledLearningRate(SGD(learning_rate), ...) that give layer l the rate
    base_l·m^{−c_l} during the warm-up. Biases with learning-rate exponents of their own
    (`parameterization.bias_c`, IP-LLR-bias) keep η·m^{−c}, as the reference's bias groups do."""
    layers = abc_layers(model)
    if len(base_lrs) != len(layers):
        raise ValueError(f"{len(base_lrs)} base learning rates for {len(layers)} layers")
    scales = lr_scales(model, warmup=True)
    for layer, base in zip(layers, base_lrs):
        factor = base / learning_rate
        scales[layer.kernel.path] *= factor
        if layer.bias is not None and parameterization.bias_c is None:
            scales[layer.bias.path] *= factor
    return scales
