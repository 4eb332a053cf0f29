"""Throughput of initlab's glorot training loop against a bare `model.fit`, and where the difference goes.

initlab: `lib.studies.glorot.run.train` with a run directory, i.e. the Shapeset stream pipeline,
the per-epoch test evaluation, the probe record, history.h5/csv and TensorBoard scalars, the
checkpoint, the divergence guard, status and results files.
Baseline: a bare `model.fit` of the same model (same seed, optimizer and validation set) on
the same Shapeset batches, with no callbacks.

One run measures both backends (one child process each: the backend is fixed when Keras is
imported) at two epoch lengths: `--steps` updates (default 1,000, xavier_init's debug epochs;
`--rounds` rounds of `--epochs` epochs each side) and the study's default, 20,000 updates of
batch 10 (`--default-rounds` rounds of `--default-epochs` epochs each side, 1 x 3 by default:
such an epoch takes 1 (JAX) to 2.5 (TensorFlow) minutes on a 2-core CPU, so the whole bench
takes ~30 minutes there).
Seconds per epoch are those of each side's fastest timed epoch over all rounds (epochs 2, 3, ...;
epoch 1 includes tracing and compiling): on a shared machine an epoch's time varies with the
other work, by 10% and at the default length up to 50% (whichever side went first in a round
was the slow one), and the fastest epoch is the least disturbed one. Rounds alternate which
side goes first; the per-part columns are medians over rounds, and the per-round ratios are
printed too. The per-part columns are the wall time of each
initlab epoch-end hook, per timed epoch; "other" is the rest of initlab's extra time per epoch
(the divergence guard, callback dispatch, and the noise of the two measurements).
Target: ratio (bare s/epoch over initlab s/epoch) >= 0.95 at the default epoch length.

    python bench/training_loop.py [--backends tensorflow jax] [--steps 1000] [--epochs 3] [--rounds 3]
                                  [--default-epochs 3] [--default-rounds 1] [--units 1000]
"""

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULT = "RESULT "  # prefix of the child's result lines; every other line is progress
PARTS = ("test eval", "record", "checkpoint", "history+TB")
COLUMNS = ("bare s/epoch", "initlab s/epoch", "ratio", *(f"{part} ms" for part in PARTS), "other ms")


def timed_parts() -> dict[str, dict[int, float]]:
    """Wrap the epoch-end hook of each part's callback class (in this process only) to add up
    its wall time per epoch: {part: {epoch index: seconds}}."""
    from callbacks.epoch_checkpoint import EpochCheckpoint
    from callbacks.epoch_history import EpochHistory
    from callbacks.epoch_test_evaluation import EpochTestEvaluation
    from callbacks.gradient_activation_store import GradientActivationStore

    classes = dict(zip(PARTS, (EpochTestEvaluation, GradientActivationStore, EpochCheckpoint, EpochHistory)))
    seconds = {part: collections.defaultdict(float) for part in PARTS}
    for part, cls in classes.items():
        def timed(self, epoch, logs=None, hook=cls.on_epoch_end, spent=seconds[part]):
            start = time.perf_counter()
            hook(self, epoch, logs)
            spent[epoch] += time.perf_counter() - start
        cls.on_epoch_end = timed
    return seconds


def measure(args) -> None:
    """Child process: time both sides at both epoch lengths under the backend of KERAS_BACKEND."""
    import dataclasses

    import keras

    from lib.datasets.pipeline import fit_inputs
    from lib.runs.run_dir import RunDirectory
    from lib.runs.training import EVALUATION_BATCH_SIZE
    from lib.studies.glorot.config import GlorotConfig, resolve
    from lib.studies.glorot.run import build_model, load_data, to_json, train

    class EpochClock(keras.callbacks.Callback):
        """Seconds per epoch: the fastest of epochs 2, 3, ... (epoch 1 traces and compiles). Each epoch
        is timed from its start to the next one's (or the end of training), so every callback of the
        epoch counts; the fastest is the one the machine's other work disturbed least."""

        def on_train_begin(self, logs=None):
            self.starts = []

        def on_epoch_begin(self, epoch, logs=None):
            self.starts.append(time.perf_counter())

        def on_train_end(self, logs=None):
            ends = [*self.starts[1:], time.perf_counter()]
            self.seconds_per_epoch = min(end - start for start, end in list(zip(self.starts, ends))[1:])

    def bare(config, splits):
        keras.utils.set_random_seed(config.seed)
        model = build_model(config, int(splits.validation.flat().x.shape[1]), splits.num_classes)
        inputs = fit_inputs(splits.train, batch_size=config.batch_size, steps_per_epoch=config.steps_per_epoch,
                            num_classes=splits.num_classes, flat=True, seed=config.seed)
        clock = EpochClock()
        model.fit(**inputs, epochs=config.epochs, validation_data=(splits.validation.flat().x, splits.validation.y),
                  validation_batch_size=EVALUATION_BATCH_SIZE, callbacks=[clock], verbose=0)
        return clock.seconds_per_epoch

    def initlab(config, splits):
        clock = EpochClock()
        for spent in parts.values():
            spent.clear()
        with tempfile.TemporaryDirectory() as folder:
            run = RunDirectory.create(os.path.join(folder, "run"), overwrite=False, config_json=to_json(config), argv=[])
            train(config, splits, run_dir=run, verbose=0, extra_callbacks=[clock])
        timed_epochs = config.epochs - 1
        return clock.seconds_per_epoch, {part: 1000 * sum(s for epoch, s in spent.items() if epoch >= 1) / timed_epochs
                                         for part, spent in parts.items()}  # the mean of epochs 2, 3, ...

    parts = timed_parts()
    config, splits = load_data(resolve(GlorotConfig(units=args.units, epochs=args.default_epochs)))
    lengths = [(dataclasses.replace(config, steps_per_epoch=args.steps, epochs=args.epochs), args.rounds),
               (config, args.default_rounds)]
    backend = keras.backend.backend()
    for length_config, rounds in lengths:
        rows = []
        for round_index in range(rounds):
            order = ("initlab", "bare") if round_index % 2 == 0 else ("bare", "initlab")
            for side in order:
                if side == "bare":
                    bare_seconds = bare(length_config, splits)
                else:
                    initlab_seconds, part_ms = initlab(length_config, splits)
            overhead_ms = 1000 * (initlab_seconds - bare_seconds)
            rows.append({"bare s/epoch": bare_seconds, "initlab s/epoch": initlab_seconds,
                         "ratio": bare_seconds / initlab_seconds, **{f"{part} ms": part_ms[part] for part in PARTS},
                         "other ms": overhead_ms - sum(part_ms.values())})
            print(f"{backend}, {length_config.steps_per_epoch} updates/epoch, round {round_index + 1}/{rounds}: "
                  f"bare {bare_seconds:.2f} s/epoch, initlab {initlab_seconds:.2f} s/epoch, "
                  f"ratio {rows[-1]['ratio']:.3f}", flush=True)
        # Each side's fastest epoch over all rounds: the side that goes first in a round was measured
        # up to 50% slower at the default length on a shared 2-core machine, whichever side it was.
        bare_seconds, initlab_seconds = (min(row[column] for row in rows) for column in COLUMNS[:2])
        parts_ms = {f"{part} ms": statistics.median(row[f"{part} ms"] for row in rows) for part in PARTS}
        summary = {"bare s/epoch": bare_seconds, "initlab s/epoch": initlab_seconds,
                   "ratio": bare_seconds / initlab_seconds, **parts_ms,
                   "other ms": 1000 * (initlab_seconds - bare_seconds) - sum(parts_ms.values())}
        print(RESULT + json.dumps({"backend": backend, "steps": length_config.steps_per_epoch,
                                   "rounds": [row["ratio"] for row in rows], **summary}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax"])
    parser.add_argument("--steps", type=int, default=1000, help="updates per epoch of the short epochs")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per side at --steps (epoch 1 untimed)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds at --steps")
    parser.add_argument("--default-epochs", type=int, default=3, help="epochs per side at the study's default length")
    parser.add_argument("--default-rounds", type=int, default=1, help="rounds at the study's default length")
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.epochs, args.default_epochs) < 2:
        parser.error("at least 2 epochs per side: the first one is not timed")
    if min(args.rounds, args.default_rounds) < 1:
        parser.error("at least 1 round at each epoch length")
    if args.child:
        sys.path.insert(0, ROOT)
        measure(args)
        return

    results = []
    for backend in args.backends:
        with subprocess.Popen([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--child"],
                              env={**os.environ, "KERAS_BACKEND": backend},
                              stdout=subprocess.PIPE, text=True) as child:
            for line in child.stdout:
                if line.startswith(RESULT):
                    results.append(json.loads(line[len(RESULT):]))
                else:
                    print(line, end="", flush=True)
        if child.returncode != 0:
            sys.exit(f"the {backend} measurement failed (exit code {child.returncode})")

    header = f"{'backend':<11} {'updates/epoch':>13} " + " ".join(f"{column:>15}" for column in COLUMNS)
    print("\n" + header + "\n" + "-" * len(header))
    for row in results:
        print(f"{row['backend']:<11} {row['steps']:>13} " + " ".join(
            f"{row[column]:>15.3f}" if column == "ratio" else
            f"{row[column]:>15.2f}" if column.endswith("s/epoch") else f"{row[column]:>15.0f}" for column in COLUMNS))
    print("ratio = bare s/epoch / initlab s/epoch, each side's fastest epoch over all rounds (per-round ratios: "
          + "; ".join(f"{row['backend']} {row['steps']}: {', '.join(f'{r:.3f}' for r in row['rounds'])}" for row in results)
          + "); target >= 0.95 at the study's default epoch length")


if __name__ == "__main__":
    main()
