"""SGD with momentum in PyTorch's form, as the ConstNet and weight-norm codes train (torch.optim.SGD).

PyTorch keeps the rate outside the velocity: v ← μ·v + g, w ← w − lr·v (Nesterov: w ← w − lr·(g + μ·v)).
Keras' SGD keeps it inside: v ← μ·v − lr·g, w ← w + v. The two agree while the rate is constant,
but after each ×0.2 drop of the epoch-step schedule Keras' velocity still carries the old rate,
so its next ~1/(1−μ) = 10-20 updates are larger than the original's.

Weight decay is not applied here: the models add it to the loss as L2(wd/2) (models.blocks.l2),
which is PyTorch's coupled weight decay.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="initlab")
class PyTorchSGD(keras.optimizers.Optimizer):
    """torch.optim.SGD(lr, momentum, nesterov, dampening=0) as a Keras optimizer; the rate may be a schedule."""

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, name: str = "pytorch_sgd",
                 **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov needs a momentum > 0 (as torch.optim.SGD requires)")
        self.momentum, self.nesterov = float(momentum), bool(nesterov)

    def build(self, variables):
        """One velocity per trainable variable (none without momentum), saved with the optimizer's variables."""
        if self.built:
            return
        super().build(variables)
        self.velocities = [self.add_variable_from_reference(variable, name="velocity") for variable in variables] \
            if self.momentum else []

    def update_step(self, gradient, variable, learning_rate):
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if not self.momentum:
            self.assign_sub(variable, ops.multiply(learning_rate, gradient))
            return
        # The index lookup of the Optimizer docstring's own example; it also maps a replica's
        # variable under tf.distribute to its velocity.
        velocity = self.velocities[self._get_variable_index(variable)]
        momentum = ops.cast(self.momentum, variable.dtype)
        new_velocity = ops.add(ops.multiply(momentum, velocity), gradient)
        self.assign(velocity, new_velocity)
        step = ops.add(gradient, ops.multiply(momentum, new_velocity)) if self.nesterov else new_velocity
        self.assign_sub(variable, ops.multiply(learning_rate, step))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
