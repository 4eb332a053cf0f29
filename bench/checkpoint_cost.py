"""Cost of surviving crashes, as a fraction of an epoch, for the default glorot and constnet runs.

Per epoch a run writes one checkpoint (every model and optimizer variable, lib.runs.checkpoint)
and checks for divergence (callbacks.divergence_guard). Measured here:
- glorot default (tanh, 3 x 1000, Shapeset, batch 10, epochs of 20,000 updates): the time of
  a bare `model.fit` vs the same fit with the per-update divergence guard (which glorot does
  not use because of this cost: it checks once per epoch), in alternating rounds of
  --steps updates, compared by each kind's fastest round (on this shared 2-core machine a
  round is now and then 2x slower for reasons unrelated to either: the minimum is the
  measurement least disturbed), and the checkpoint write against the epoch time;
- constnet default (ConstNet WRN-28-10, CIFAR-10-shaped batches of 128, 391 updates per
  epoch): the checkpoint write against an epoch extrapolated from --wrn_steps updates (an
  epoch takes hours on a 2-core CPU; the guard's one scalar per 10-second update is nothing).
Target: <= 2% of an epoch for each.

    python bench/checkpoint_cost.py [--steps 2000] [--rounds 5] [--wrn_steps 2]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from callbacks.divergence_guard import UpdateDivergenceGuard  # noqa: E402
from lib.datasets.pipeline import fit_inputs  # noqa: E402
from lib.runs.checkpoint import save_checkpoint  # noqa: E402
from lib.studies.constnet import run as constnet  # noqa: E402
from lib.studies.glorot import run as glorot  # noqa: E402

GLOROT_EPOCH_UPDATES = 20_000
CONSTNET_EPOCH_UPDATES = 391


def median_seconds(action, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def glorot_costs(steps: int, rounds: int) -> None:
    config, splits = glorot.load_data(glorot.resolve(glorot.GlorotConfig(steps_per_epoch=steps)))
    keras.utils.set_random_seed(0)
    model = glorot.build_model(config, 1024, splits.num_classes)
    inputs = fit_inputs(splits.train, batch_size=config.batch_size, steps_per_epoch=steps,
                        num_classes=splits.num_classes, flat=True, seed=0)
    model.fit(**inputs, epochs=1, verbose=0)  # warm-up: tracing
    bare_seconds, guarded_seconds = [], []
    for _ in range(rounds):
        bare_seconds.append(median_seconds(lambda: model.fit(**inputs, epochs=1, verbose=0), repeats=1))
        guarded_seconds.append(median_seconds(
            lambda: model.fit(**inputs, epochs=1, verbose=0, callbacks=[UpdateDivergenceGuard(steps)]), repeats=1))
    ratio = min(guarded_seconds) / min(bare_seconds)
    epoch_seconds = min(bare_seconds) / steps * GLOROT_EPOCH_UPDATES
    with tempfile.TemporaryDirectory() as folder:
        checkpoint_seconds = median_seconds(lambda: save_checkpoint(folder, model, 1))
        size = sum(os.path.getsize(os.path.join(folder, "checkpoints", name)) for name in os.listdir(
            os.path.join(folder, "checkpoints")))
    guard_overhead = max(0.0, ratio - 1)
    print(f"glorot default: epoch of {GLOROT_EPOCH_UPDATES} updates {epoch_seconds:.0f} s; checkpoint "
          f"{checkpoint_seconds * 1000:.0f} ms ({size / 1e6:.1f} MB) = {100 * checkpoint_seconds / epoch_seconds:.3f}% "
          f"of an epoch (target <= 2%)\n  per-update divergence guard (glorot checks per epoch instead): fastest round "
          f"guarded/bare {ratio:.4f}, i.e. {100 * guard_overhead:.2f}% (seconds per round: bare "
          f"{', '.join(f'{t:.2f}' for t in bare_seconds)}; guarded {', '.join(f'{t:.2f}' for t in guarded_seconds)})",
          flush=True)


def constnet_costs(wrn_steps: int) -> None:
    config = constnet.resolve(constnet.ConstnetConfig(batchnorm=True))  # the defaults: WRN-28-10, batch 128
    keras.utils.set_random_seed(0)
    model = constnet.build_model(config, (32, 32, 3), 10, CONSTNET_EPOCH_UPDATES)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(config.batch_size, 32, 32, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, config.batch_size)]
    model.train_on_batch(x, y)  # warm-up: tracing
    step_seconds = median_seconds(lambda: model.train_on_batch(x, y), repeats=wrn_steps)
    epoch_seconds = step_seconds * CONSTNET_EPOCH_UPDATES
    with tempfile.TemporaryDirectory() as folder:
        checkpoint_seconds = median_seconds(lambda: save_checkpoint(folder, model, 1))
        size = sum(os.path.getsize(os.path.join(folder, "checkpoints", name)) for name in os.listdir(
            os.path.join(folder, "checkpoints")))
    print(f"constnet default (WRN-{config.layers}-{config.widen_factor}, {model.count_params():,} parameters): "
          f"update {step_seconds:.1f} s, epoch of {CONSTNET_EPOCH_UPDATES} updates {epoch_seconds:.0f} s; "
          f"checkpoint {checkpoint_seconds:.2f} s ({size / 1e6:.0f} MB) = "
          f"{100 * checkpoint_seconds / epoch_seconds:.3f}% of an epoch (target <= 2%)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="glorot updates per timed round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating bare / guarded rounds")
    parser.add_argument("--wrn_steps", type=int, default=2, help="timed WRN-28-10 updates")
    args = parser.parse_args()
    glorot_costs(args.steps, args.rounds)
    constnet_costs(args.wrn_steps)


if __name__ == "__main__":
    main()
