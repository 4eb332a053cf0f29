"""The weightnorm study's learning rate (reference/weightnorm_abc.md §A1, "LR schedules" and "Warmup"):
train.py's piecewise-constant annealing types 0-5, a function of the epoch, and its quadratic warmup,
a function of the iteration within the epoch, as one Keras schedule over the optimizer's counter.

Epochs count from 0, as the original's training loop does: a drop "at" epoch t (t may be a fraction
of the run, 200/3 for type 1) applies from the first epoch e >= t, so type 3 at 200 epochs runs
epochs 0-59 at --lr and 60-119 at 0.2·lr, and types 4 and 5 drop after 91 and 136 whole epochs.

The counter is the one Keras hands a schedule: loader batches so far. With --mini_batch_size it
counts mini-batches (Keras' gradient_accumulation_steps counts them too, and updates at the last
one of each group with the rate of that counter value): the original's warmup also steps per
mini-batch, and its update also uses the rate set at its last mini-batch. So steps_per_epoch is
the loader's batches per epoch, whatever the accumulation.

One deviation, for fractional --warmup_epochs: the original warms up through every epoch
e < warmup_epochs, so its α = (e + i/n)/warmup_epochs passes 1 in the last such epoch and the rate
overshoots the schedule (up to 4x at --warmup_epochs 0.5). Here α stops at 1: the warmup ends at
warmup_epochs. Whole numbers of warmup epochs give the original's rates.
"""

import math
from fractions import Fraction

import keras

# The drops of each type: (where, multiplier of --lr from there on). `where` is a fraction of
# --num_epochs (exact, so that e.g. 2/3 of 9 epochs is epoch 6, not a float a hair above it) or a
# fixed epoch (types 4 and 5, He et al.'s 91 and 136 of a 182-epoch CIFAR run).
RUN_FRACTION_DROPS = {
    0: (),
    1: ((Fraction(1, 3), 0.1), (Fraction(2, 3), 0.01)),
    2: ((Fraction(1, 2), 0.1), (Fraction(3, 4), 0.01)),
    3: ((Fraction(3, 10), 0.2), (Fraction(6, 10), 0.2 ** 2), (Fraction(8, 10), 0.2 ** 3)),  # the WRN paper's
}
FIXED_EPOCH_DROPS = {4: ((91, 0.1), (136, 0.01)), 5: ((91, 0.1), (136, 0.01))}  # the original's 4 and 5 are equal


def drop_epochs(annealing_type: int, num_epochs: int) -> tuple[tuple[int, float], ...]:
    """(first epoch, counted from 0, at the new rate; the rate as a multiple of --lr) per drop."""
    if annealing_type in FIXED_EPOCH_DROPS:
        return FIXED_EPOCH_DROPS[annealing_type]
    if annealing_type not in RUN_FRACTION_DROPS:
        raise ValueError(f"no learning-rate annealing type {annealing_type} (valid: 0-5)")
    return tuple((math.ceil(fraction * num_epochs), multiplier) for fraction, multiplier in RUN_FRACTION_DROPS[annealing_type])


@keras.saving.register_keras_serializable(package="initlab")
class AnnealingWithWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """§A1's rate at counter value `step`: the epoch's annealed rate, and during the warmup
    warmup_lr + α²·(annealed − warmup_lr) with α = (step + offset)/(steps_per_epoch · warmup_epochs),
    which is §A1's (epoch + i/num_batches)/warmup_epochs. The offset is 1 when warmup_lr is 0 (§A1:
    the index starts at 1, so the first rate is not 0), else 0.

    A function of the optimizer's own counter, which a checkpoint restores, so a resumed run
    continues the schedule where it stopped. Elementwise in keras.ops: a vector of steps gives
    their rates. The step is computed in float32, exact below 2^24 (16.7 million) batches."""

    def __init__(self, lr: float, steps_per_epoch: int, num_epochs: int, annealing_type: int = 0,
                 warmup_epochs: float = 0.0, warmup_lr: float = 0.0):
        self.lr, self.steps_per_epoch, self.num_epochs = float(lr), int(steps_per_epoch), int(num_epochs)
        self.annealing_type, self.warmup_epochs, self.warmup_lr = int(annealing_type), float(warmup_epochs), float(warmup_lr)
        self.drops = drop_epochs(self.annealing_type, self.num_epochs)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        annealed = keras.ops.full_like(step, self.lr)
        # Each piece's warmup span (annealed − warmup_lr) is taken in float64 here, one rounding fewer.
        span = keras.ops.full_like(step, self.lr - self.warmup_lr)
        for epoch, multiplier in self.drops:
            reached = keras.ops.greater_equal(step, float(epoch * self.steps_per_epoch))
            annealed = keras.ops.where(reached, self.lr * multiplier, annealed)
            span = keras.ops.where(reached, self.lr * multiplier - self.warmup_lr, span)
        if self.warmup_epochs == 0:
            return annealed
        offset = 1.0 if self.warmup_lr == 0 else 0.0
        alpha = (step + offset) / (self.steps_per_epoch * self.warmup_epochs)
        return keras.ops.where(keras.ops.less(alpha, 1.0), self.warmup_lr + keras.ops.square(alpha) * span, annealed)

    def get_config(self):
        return {"lr": self.lr, "steps_per_epoch": self.steps_per_epoch, "num_epochs": self.num_epochs,
                "annealing_type": self.annealing_type, "warmup_epochs": self.warmup_epochs, "warmup_lr": self.warmup_lr}


def learning_rate(iteration: int, *, lr: float, steps_per_epoch: int, num_epochs: int, annealing_type: int = 0,
                  warmup_epochs: float = 0.0, warmup_lr: float = 0.0) -> float:
    """§A1's rules as its text states them, in float64, one iteration at a time: the tests' oracle
    for AnnealingWithWarmup, kept apart from it (no shared table or arithmetic) so that a slip in
    either shows. Literal also where initlab deviates: with fractional warmup_epochs its α passes 1
    (see the module docstring)."""
    epoch, i = divmod(iteration, steps_per_epoch)
    scheduled = _annealed_rate(lr, annealing_type, epoch, num_epochs)
    if epoch < warmup_epochs:
        if warmup_lr == 0:
            i += 1  # §A1: "the iteration index starts at 1"
        alpha = (epoch + i / steps_per_epoch) / warmup_epochs
        return warmup_lr + alpha ** 2 * (scheduled - warmup_lr)
    return scheduled


def _annealed_rate(lr: float, annealing_type: int, epoch: int, num_epochs: int) -> float:
    """§A1's table of LR schedules, row by row."""
    if annealing_type == 0:
        return lr
    if annealing_type in (1, 2):
        first, second = (num_epochs / 3, num_epochs * 2 / 3) if annealing_type == 1 else (num_epochs / 2, num_epochs * 3 / 4)
        return lr * 0.01 if epoch >= second else lr * 0.1 if epoch >= first else lr
    if annealing_type == 3:
        return lr * 0.2 ** sum(epoch >= fraction * num_epochs for fraction in (0.3, 0.6, 0.8))
    if annealing_type in (4, 5):
        return lr * 0.01 if epoch >= 136 else lr * 0.1 if epoch >= 91 else lr
    raise ValueError(f"no learning-rate annealing type {annealing_type}")
