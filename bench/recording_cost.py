"""Cost of one GradientActivationStore record as a fraction of one training epoch.

Paper setting: Shapeset, tanh, 5 hidden layers x 1000 units, batch 10, epochs of 20,000
updates, probe = the 300-example validation set. The epoch time is measured on --steps
updates after a warm-up and scaled to 20,000 (a full epoch takes minutes on a 2-core CPU);
the record time is the median of --records records (one forward/backward pass + writing
the record file and the index files). Prints bytes per record. Target: <= 5% of an epoch.

    python bench/recording_cost.py [--steps 2000] [--records 5]
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

from callbacks.gradient_activation_store import GradientActivationStore  # noqa: E402
from lib.backend.probe_record import ProbeRecord  # noqa: E402
from lib.datasets.pipeline import fit_inputs  # noqa: E402
from lib.storage.records import RecordWriter  # noqa: E402
from lib.studies.glorot.config import GlorotConfig, resolve  # noqa: E402
from lib.studies.glorot.run import build_model, load_data  # noqa: E402

EPOCH_UPDATES = 20_000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="timed training updates")
    parser.add_argument("--records", type=int, default=5)
    args = parser.parse_args()

    config, splits = load_data(resolve(GlorotConfig(hidden_layers=5, xavier=True, steps_per_epoch=args.steps)))
    keras.utils.set_random_seed(0)
    model = build_model(config, 1024, splits.num_classes)
    inputs = fit_inputs(splits.train, batch_size=config.batch_size, steps_per_epoch=args.steps,
                        num_classes=splits.num_classes, flat=True, seed=0)
    model.fit(**inputs, epochs=1, verbose=0)  # warm-up: tracing
    start = time.perf_counter()
    model.fit(**inputs, epochs=1, verbose=0)
    epoch_seconds = (time.perf_counter() - start) / args.steps * EPOCH_UPDATES

    probe = splits.validation.flat()
    with tempfile.TemporaryDirectory() as folder:
        for weights_every_record in (False, True):
            store = GradientActivationStore(RecordWriter(folder, ProbeRecord.KINDS), probe.x, probe.y,
                                            weights_every_record=weights_every_record)
            store.set_model(model)
            store.on_train_begin()  # builds the probe and records epoch0 (with weights)
            seconds = []
            for epoch in range(1, args.records + 1):
                start = time.perf_counter()
                store.record(epoch)
                seconds.append(time.perf_counter() - start)
            record_seconds = statistics.median(seconds)
            label = "with weights" if weights_every_record else "default (weights at epoch0 only)"
            print(f"record {label}: {record_seconds:.3f} s, {store.bytes_per_record[-1] / 1e6:.1f} MB per record "
                  f"(epoch0 with weights: {store.bytes_per_record[0] / 1e6:.1f} MB)")
            print(f"  = {100 * record_seconds / epoch_seconds:.2f}% of a {EPOCH_UPDATES}-update epoch "
                  f"({epoch_seconds:.0f} s, from {args.steps} timed updates); target <= 5%")


if __name__ == "__main__":
    main()
