"""The ConstNet study's learning-rate schedule (reference/constnet.md §1, LR schedule).

The original multiplies the rate by 0.2 from 1-based epochs E-140, E-80 and E-40 (E = total
epochs): 60/120/160 for E = 200, 160/220/260 for E = 300. Below 141 epochs that rule would
drop the rate from the first epoch on, so short runs use the same drops at the fractions
0.3/0.6/0.8 of E that the rule gives at E = 200 (listed among the differences in the README).
"""

import keras

DROP_FACTOR = 0.2
DROPS_BEFORE_END = (140, 80, 40)
SHORT_RUN_FRACTIONS = (0.3, 0.6, 0.8)


def drop_epochs(epochs: int) -> tuple[int, ...]:
    """The 1-based epochs from which the rate is multiplied by another 0.2."""
    if epochs > max(DROPS_BEFORE_END):
        return tuple(epochs - before for before in DROPS_BEFORE_END)
    return tuple(max(2, round(fraction * epochs)) for fraction in SHORT_RUN_FRACTIONS)


def rate_at_epoch(base_rate: float, epoch: int, epochs: int) -> float:
    """The rate during 1-based `epoch` of a run of `epochs` epochs."""
    return base_rate * DROP_FACTOR ** sum(epoch >= drop for drop in drop_epochs(epochs))


@keras.saving.register_keras_serializable(package="initlab")
class EpochStepDrops(keras.optimizers.schedules.LearningRateSchedule):
    """The rate as a function of the update count, so that it follows the optimizer's own
    iteration counter (which a checkpoint restores) rather than a callback's epoch count."""

    def __init__(self, base_rate: float, steps_per_epoch: int, epochs: int):
        self.base_rate, self.steps_per_epoch, self.epochs = float(base_rate), int(steps_per_epoch), int(epochs)

    def __call__(self, step):
        first_steps = [(drop - 1) * self.steps_per_epoch for drop in drop_epochs(self.epochs)]
        step = keras.ops.cast(step, "float32")
        drops = sum(keras.ops.cast(keras.ops.greater_equal(step, float(first)), "float32") for first in first_steps)
        return self.base_rate * keras.ops.power(DROP_FACTOR, drops)

    def get_config(self):
        return {"base_rate": self.base_rate, "steps_per_epoch": self.steps_per_epoch, "epochs": self.epochs}
