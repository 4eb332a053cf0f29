"""Per-variable learning-rate scales around any Keras optimizer: Keras 3's stand-in for PyTorch's
parameter groups (reference/weightnorm_abc.md §B1 "one SGD param group per layer, lr_l = η·m^{−c_l}"),
in the spirit of mup's MuSGD / MuAdam (§C6): a wrapper of the optimizer, not a copy of it.

`ScaledLearningRate(inner, scales)` updates the variable with path p exactly as `inner` would with the
learning rate lr·scales[p]: each step it hands the inner optimizer's own `update_step` the scaled rate,
so SGD (with momentum), Adam, RMSprop, ... keep their own state and arithmetic, and a learning-rate
schedule of the inner optimizer still applies (the scales multiply it). Scaling gradients instead would
do for plain SGD only: Adam's and RMSprop's updates do not scale with the gradient.

IP-LLR's warm-up switch (§B2 `WarmupSwitchLR`): with `warmup_scales` and `n_warmup_steps`, the first
`n_warmup_steps` updates use `warmup_scales`, the later ones `scales`. The choice is
`where(iterations < n_warmup_steps, ...)` on the update counter, so it runs inside a compiled step.

The inner optimizer's variables (its counter, rate, moments) are the wrapper's, so `model.fit`, the
JAX stateless step and the run checkpoint (which saves `optimizer.variables`) carry them.
"""

import keras
from keras import ops

# Inner-optimizer options the wrapper would silently skip (its update path bypasses the inner `apply`),
# or that would need their own scaling (decoupled weight decay multiplies the unscaled rate).
_UNSUPPORTED = ("weight_decay", "use_ema", "gradient_accumulation_steps", "loss_scale_factor")
_CLIPPING = ("clipnorm", "clipvalue", "global_clipnorm")


@keras.saving.register_keras_serializable(package="initlab")
class ScaledLearningRate(keras.optimizers.Optimizer):
    """`inner_optimizer` with the learning rate of the variable at path p multiplied by `scales[p]`.

    Every variable the optimizer is built on must have a scale (an unknown path is an error, not a
    silent 1). The inner optimizer's gradient clipping is applied by the wrapper, before the update;
    weight decay, EMA, gradient accumulation and loss scaling on the inner optimizer are refused.
    """

    def __init__(self, inner_optimizer, scales: dict, *, warmup_scales: dict | None = None, n_warmup_steps: int = 0,
                 name: str | None = None):
        if not isinstance(inner_optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"inner_optimizer must be a keras.optimizers.Optimizer, got {type(inner_optimizer).__name__}")
        if inner_optimizer.built:
            raise ValueError("wrap the inner optimizer before it is built: the wrapper builds it on the same variables")
        for option in _UNSUPPORTED:
            if getattr(inner_optimizer, option, None):
                raise ValueError(f"ScaledLearningRate does not support the inner optimizer's `{option}`")
        if (warmup_scales is None) != (n_warmup_steps == 0):
            raise ValueError("warmup_scales and n_warmup_steps > 0 go together")
        if n_warmup_steps < 0:
            raise ValueError(f"n_warmup_steps must be >= 0, got {n_warmup_steps}")
        if warmup_scales is not None and set(warmup_scales) != set(scales):
            raise ValueError("warmup_scales and scales must name the same variables; differ in "
                             f"{sorted(set(warmup_scales) ^ set(scales))}")
        super().__init__(learning_rate=0.0, name=name,
                         **{option: getattr(inner_optimizer, option) for option in _CLIPPING})
        self.inner_optimizer = inner_optimizer
        self.scales = {str(path): float(scale) for path, scale in scales.items()}
        self.warmup_scales = None if warmup_scales is None else {str(p): float(s) for p, s in warmup_scales.items()}
        self.n_warmup_steps = int(n_warmup_steps)

    def build(self, variables):
        if self.built:
            return
        unknown = [variable.path for variable in variables if variable.path not in self.scales]
        if unknown:
            raise ValueError(f"no learning-rate scale for {unknown} (scales name {sorted(self.scales)})")
        super().build(variables)
        self.inner_optimizer.build(variables)
        # In the order of `variables`, which is what the update step's variable index refers to.
        self._variable_scales = [self.scales[variable.path] for variable in variables]
        self._variable_warmup_scales = None if self.warmup_scales is None else \
            [self.warmup_scales[variable.path] for variable in variables]

    @property
    def variables(self):
        return self._variables + self.inner_optimizer.variables

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    def scale(self, variable):
        """The learning-rate scale of `variable` at the current step (a tensor with a warm-up)."""
        index = self._get_variable_index(variable)
        scale = self._variable_scales[index]
        if self._variable_warmup_scales is None:
            return scale
        return ops.where(ops.less(self.iterations, self.n_warmup_steps), self._variable_warmup_scales[index], scale)

    def update_step(self, gradient, variable, learning_rate):
        scaled = ops.multiply(ops.cast(learning_rate, variable.dtype), ops.cast(self.scale(variable), variable.dtype))
        self.inner_optimizer.update_step(gradient, variable, scaled)

    def apply(self, grads, trainable_variables=None):
        super().apply(grads, trainable_variables)
        if len(grads):
            # The inner optimizer counts its own steps (Adam's bias correction and a schedule read them).
            self.inner_optimizer.iterations.assign_add(1)

    def get_config(self):
        return {"name": self.name, "inner_optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
                "scales": self.scales, "warmup_scales": self.warmup_scales, "n_warmup_steps": self.n_warmup_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
