"""Throughput of initlab's glorot training loop against a bare `model.fit`, measured in one run.

initlab: `lib.studies.glorot.run.train` with a run directory, i.e. the Shapeset stream pipeline,
per-epoch history.h5/csv and TensorBoard callbacks, status and results files.
Baseline: a bare `model.fit` of the same model (same seed, optimizer and validation set) on
the same Shapeset batches, with no callbacks.
Throughput = updates/s over epochs 2..E (epoch 1 includes tracing). Rounds alternate which
of the two goes first, so that machine noise hits both; the median ratio is printed.
Target >= 0.95.

    python bench/training_loop.py [--steps 1000] [--epochs 3] [--rounds 6] [--units 1000]
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

from lib.datasets.pipeline import fit_inputs  # noqa: E402
from lib.runs.run_dir import RunDirectory  # noqa: E402
from lib.studies.glorot.config import GlorotConfig, resolve  # noqa: E402
from lib.studies.glorot.run import build_model, load_data, to_json, train  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    """Wall time from the end of epoch 1 to the end of training."""

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 0:
            self.start = time.perf_counter()

    def on_train_end(self, logs=None):
        self.seconds = time.perf_counter() - self.start


def bare_fit(config, splits, inputs):
    keras.utils.set_random_seed(config.seed)
    model = build_model(config, 1024, splits.num_classes)
    clock = EpochClock()
    model.fit(**inputs, epochs=config.epochs, validation_data=(splits.validation.flat().x, splits.validation.y),
              validation_batch_size=500, callbacks=[clock], verbose=0)
    return clock.seconds


def initlab_fit(config, splits):
    clock = EpochClock()
    with tempfile.TemporaryDirectory() as folder:
        run = RunDirectory.create(os.path.join(folder, "run"), overwrite=False, config_json=to_json(config), argv=[])
        train(config, splits, run_dir=run, verbose=0, extra_callbacks=[clock])
    return clock.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1000, help="updates per epoch")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--units", type=int, default=1000)
    args = parser.parse_args()

    config = resolve(GlorotConfig(epochs=args.epochs, steps_per_epoch=args.steps, units=args.units))
    config, splits = load_data(config)
    timed_updates = (args.epochs - 1) * args.steps
    stream = fit_inputs(splits.train, batch_size=config.batch_size, steps_per_epoch=args.steps,
                        num_classes=splits.num_classes, flat=True, seed=config.seed)

    runners = {"initlab": lambda: initlab_fit(config, splits), "bare": lambda: bare_fit(config, splits, stream)}
    rates = {name: [] for name in runners}
    for round_index in range(args.rounds):
        order = list(runners) if round_index % 2 == 0 else list(reversed(runners))
        for name in order:
            rates[name].append(timed_updates / runners[name]())
        print(f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]:.1f} updates/s" for k, v in rates.items()), flush=True)

    ratios = [a / b for a, b in zip(rates["initlab"], rates["bare"])]
    print(f"initlab / bare model.fit: median ratio {statistics.median(ratios):.3f} "
          f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)}; target >= 0.95)")


if __name__ == "__main__":
    main()
