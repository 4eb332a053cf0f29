"""The weightnorm study's learning rate (lib/studies/weightnorm/schedules.py): the Keras schedule, evaluated
on the running backend, against `learning_rate`, reference/weightnorm_abc.md §A1 written out literally.

Precision: the schedule computes in float32. Where no warmup is active its rate is a constant, and it
equals the oracle's float64 rate rounded to float32 exactly; during a warmup it does float32 arithmetic
on α, so it agrees to float32 rounding: relative error <= 1e-6 (about 8 float32 ulps).
"""

import keras
import numpy as np
import pytest

from lib.studies.weightnorm.config import LR_ANNEALING_TYPES
from lib.studies.weightnorm.schedules import AnnealingWithWarmup, drop_epochs, learning_rate

WARMUP_RTOL = 1e-6


def schedule_rates(steps, **settings) -> np.ndarray:
    """The schedule's rates at `steps`, one call over a vector of steps, as the backend computes them."""
    schedule = AnnealingWithWarmup(**settings)
    return keras.ops.convert_to_numpy(schedule(np.asarray(steps, dtype="int32"))).astype(np.float64)


def oracle_rates(steps, **settings) -> np.ndarray:
    return np.array([learning_rate(int(step), **settings) for step in steps])


def test_the_schedule_covers_exactly_the_flag_choices():
    for annealing_type in LR_ANNEALING_TYPES:
        drop_epochs(annealing_type, 200)
    with pytest.raises(ValueError):
        drop_epochs(max(LR_ANNEALING_TYPES) + 1, 200)


# §A1's drops for 200 epochs, counted from 0 (the original's loop): (first epoch at the new rate, multiplier).
DROPS_AT_200 = {
    0: (),
    1: ((67, 0.1), (134, 0.01)),  # 200/3 = 66.7, 400/3 = 133.3
    2: ((100, 0.1), (150, 0.01)),
    3: ((60, 0.2), (120, 0.04), (160, 0.008)),  # 60/120/160 of 200
    4: ((91, 0.1), (136, 0.01)),
    5: ((91, 0.1), (136, 0.01)),
}
DROPS_AT_9 = {
    0: (), 1: ((3, 0.1), (6, 0.01)), 2: ((5, 0.1), (7, 0.01)),  # 4.5 -> 5, 6.75 -> 7
    3: ((3, 0.2), (6, 0.04), (8, 0.008)),  # 2.7, 5.4, 7.2
    4: ((91, 0.1), (136, 0.01)), 5: ((91, 0.1), (136, 0.01)),  # fixed epochs: a 9-epoch run never reaches them
}


@pytest.mark.parametrize("num_epochs, expected", [(200, DROPS_AT_200), (9, DROPS_AT_9)])
def test_drop_epochs_are_the_references(num_epochs, expected):
    for annealing_type, drops in expected.items():
        assert [epoch for epoch, _ in drop_epochs(annealing_type, num_epochs)] == [epoch for epoch, _ in drops]
        assert [m for _, m in drop_epochs(annealing_type, num_epochs)] == pytest.approx([m for _, m in drops])


@pytest.mark.parametrize("annealing_type", LR_ANNEALING_TYPES)
@pytest.mark.parametrize("num_epochs, steps_per_epoch", [(200, 7), (9, 5)])
def test_every_step_of_every_annealing_type_is_the_references(annealing_type, num_epochs, steps_per_epoch):
    settings = dict(lr=0.1, steps_per_epoch=steps_per_epoch, num_epochs=num_epochs, annealing_type=annealing_type)
    steps = np.arange(num_epochs * steps_per_epoch)
    expected = oracle_rates(steps, **settings)
    np.testing.assert_array_equal(schedule_rates(steps, **settings), expected.astype(np.float32))
    # The drops happen at the first step of their epoch: the rate changes exactly there and nowhere else.
    changes = np.flatnonzero(np.diff(expected)) + 1
    drops = [epoch for epoch, _ in drop_epochs(annealing_type, num_epochs) if epoch < num_epochs]
    assert list(changes) == [epoch * steps_per_epoch for epoch in drops]


def test_drop_boundaries_at_a_real_epoch_length():
    """CIFAR-10 at --val_fraction 0.1 and batch 128: 45,000 / 128 -> 352 batches an epoch; the
    steps on either side of each epoch boundary, over 200 epochs of type 3."""
    settings = dict(lr=0.1, steps_per_epoch=352, num_epochs=200, annealing_type=3)
    boundaries = np.arange(1, 200) * 352
    steps = np.concatenate([[0], boundaries - 1, boundaries, [200 * 352 - 1]])
    np.testing.assert_array_equal(schedule_rates(steps, **settings), oracle_rates(steps, **settings).astype(np.float32))
    rates = dict(zip(steps, schedule_rates(steps, **settings)))
    assert rates[60 * 352 - 1] == np.float32(0.1) and rates[60 * 352] == np.float32(0.1 * 0.2)


@pytest.mark.parametrize("warmup_lr", [0.0, 0.002])
@pytest.mark.parametrize("annealing_type", [0, 3])
def test_whole_epoch_warmup_is_the_references_at_every_step(warmup_lr, annealing_type):
    # 9 epochs, type 3 drops at epoch 3: inside a 4-epoch warmup, which then ramps to the dropped rate.
    settings = dict(lr=0.1, steps_per_epoch=5, num_epochs=9, annealing_type=annealing_type, warmup_epochs=4.0,
                    warmup_lr=warmup_lr)
    steps = np.arange(9 * 5)
    expected, actual = oracle_rates(steps, **settings), schedule_rates(steps, **settings)
    np.testing.assert_allclose(actual, expected, rtol=WARMUP_RTOL, atol=0)
    after = steps >= 4 * 5  # past the warmup: the annealed constants, exactly
    np.testing.assert_array_equal(actual[after], expected[after].astype(np.float32))
    assert np.all(np.diff(actual[:3 * 5]) > 0)  # rising, at least until type 3's drop at epoch 3


def test_first_warmup_step_starts_from_warmup_lr_or_one_step_in_when_it_is_zero():
    common = dict(lr=0.1, steps_per_epoch=10, num_epochs=20, warmup_epochs=2.0)
    # warmup_lr = 0: the index starts at 1, α = 1/(10·2), so the first rate is 0.1/400, not 0.
    assert schedule_rates([0], **common, warmup_lr=0.0)[0] == pytest.approx(0.1 / 400, rel=WARMUP_RTOL)
    assert learning_rate(0, **common, warmup_lr=0.0) == pytest.approx(0.1 / 400, rel=1e-15)
    # warmup_lr > 0: the index starts at 0, so the first rate is warmup_lr itself.
    assert schedule_rates([0], **common, warmup_lr=0.01)[0] == np.float32(0.01)
    assert learning_rate(0, **common, warmup_lr=0.01) == 0.01
    # The last warmup step (warmup_lr = 0) reaches the scheduled rate: α = 20/20.
    assert schedule_rates([19, 20], **common, warmup_lr=0.0).tolist() == [np.float32(0.1)] * 2


@pytest.mark.parametrize("warmup_epochs, warmup_lr", [(2.5, 0.0), (2.5, 0.001), (0.5, 0.0), (0.3, 0.01)])
def test_fractional_warmup_is_the_references_until_it_ends_then_stops_at_the_scheduled_rate(warmup_epochs, warmup_lr):
    """The original warms up through every epoch e < warmup_epochs, so in the last one its α passes 1
    and its rate overshoots; initlab's α stops at 1 (schedules.py's docstring). Up to there the rates agree."""
    settings = dict(lr=0.1, steps_per_epoch=8, num_epochs=9, annealing_type=3, warmup_epochs=warmup_epochs,
                    warmup_lr=warmup_lr)
    steps = np.arange(9 * 8)
    expected, actual = oracle_rates(steps, **settings), schedule_rates(steps, **settings)
    alpha = (steps + (warmup_lr == 0)) / (8 * warmup_epochs)
    in_warmup_epoch = steps // 8 < warmup_epochs
    agreeing = ~in_warmup_epoch | (alpha <= 1)
    np.testing.assert_allclose(actual[agreeing], expected[agreeing], rtol=WARMUP_RTOL, atol=0)
    overshoot = in_warmup_epoch & (alpha > 1)
    assert overshoot.any()  # the case exists at these settings
    annealed = oracle_rates(steps[overshoot], **{**settings, "warmup_epochs": 0.0})
    np.testing.assert_array_equal(actual[overshoot], annealed.astype(np.float32))
    assert np.all(expected[overshoot] > annealed)  # the original's overshoot, which initlab does not copy


def test_with_gradient_accumulation_an_update_uses_the_rate_of_its_last_mini_batch():
    """Keras' gradient_accumulation_steps hands the schedule the mini-batch count and updates at the
    last mini-batch of a group, which is where the original's per-mini-batch warmup list is read."""
    accumulation, steps_per_epoch, epochs = 3, 6, 3  # 2 updates an epoch; the warmup ends and type 1 drops at epoch 2
    settings = dict(lr=0.1, steps_per_epoch=steps_per_epoch, num_epochs=6, annealing_type=1, warmup_epochs=2.0)
    optimizer = keras.optimizers.SGD(AnnealingWithWarmup(**settings), gradient_accumulation_steps=accumulation)
    weight = keras.Variable(np.zeros(1, dtype="float32"))
    used = []
    for mini_batch in range(epochs * steps_per_epoch):
        weight.assign(np.zeros(1, dtype="float32"))
        optimizer.apply_gradients([(keras.ops.ones(1), weight)])  # gradient 1: an update moves the weight by -rate
        moved = -float(keras.ops.convert_to_numpy(weight)[0])
        if (mini_batch + 1) % accumulation == 0:
            used.append(moved)
        else:
            assert moved == 0.0  # accumulating, no update
    last_mini_batches = np.arange(accumulation - 1, epochs * steps_per_epoch, accumulation)
    expected = oracle_rates(last_mini_batches, **settings)
    np.testing.assert_allclose(used, expected, rtol=WARMUP_RTOL, atol=0)
    assert not np.allclose(used, oracle_rates(last_mini_batches - (accumulation - 1), **settings))  # not the first's


def test_the_schedule_serializes_and_an_optimizer_reloads_it():
    schedule = AnnealingWithWarmup(lr=0.05, steps_per_epoch=11, num_epochs=30, annealing_type=2, warmup_epochs=1.5,
                                   warmup_lr=0.001)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, AnnealingWithWarmup) and restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.SGD.from_config(keras.optimizers.SGD(schedule, momentum=0.9).get_config())
    optimizer.iterations.assign(12)  # epoch 1, inside the warmup (α = 12/16.5): no constant rate matches
    assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(learning_rate(12, **schedule.get_config()),
                                                                                   rel=WARMUP_RTOL)
    steps = np.arange(30 * 11)
    np.testing.assert_array_equal(schedule_rates(steps, **restored.get_config()), schedule_rates(steps, **schedule.get_config()))
