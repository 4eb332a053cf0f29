"""Cost of the constnet study's per-epoch correlation measurement as a fraction of one epoch.

WRN-16-10 (17.1 M parameters) with random (--varnet) weights, so that no row is constant and
every correlation is really computed; CIFAR-shaped random images, batch 128, 391 updates per
epoch (50,000 images). The epoch time is measured on --steps updates after a warm-up and
scaled to 391 (an epoch takes hours on a 2-core CPU); the measurement time is the median of
--repeats calls of what the callback does each epoch: weight correlations of all 16 conv
layers and the classifier (forward, backward and kernel rows, <= 5,000 rows each) and the
channel correlations of all 12 block outputs on the 128 probe images. Target: <= 3%.

    python bench/correlation_cost.py [--steps 3] [--repeats 3] [--widen-factor 10]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lib.studies.constnet.config import ConstnetConfig, resolve  # noqa: E402
from lib.studies.constnet.meter import CorrelationMeter  # noqa: E402
from lib.studies.constnet.run import build_model  # noqa: E402

BATCH = 128
EPOCH_UPDATES = 391  # ceil(50,000 / 128)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed training updates (after 2 warm-up updates)")
    parser.add_argument("--repeats", type=int, default=3, help="timed correlation measurements")
    parser.add_argument("--widen-factor", type=int, default=10, dest="widen_factor")
    parser.add_argument("--layers", type=int, default=16)
    args = parser.parse_args()

    config = resolve(ConstnetConfig(layers=args.layers, widen_factor=args.widen_factor, batchnorm=True, varnet=True))
    keras.utils.set_random_seed(0)
    model = build_model(config, (32, 32, 3), 10, EPOCH_UPDATES)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, 32, 32, 3)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH)]
    print(f"WRN-{args.layers}-{args.widen_factor}: {model.count_params():,} parameters; "
          f"timing {args.steps} updates of batch {BATCH}", flush=True)
    for _ in range(2):  # warm-up: tracing
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(args.steps):
        model.train_on_batch(x, y)
    step_seconds = (time.perf_counter() - start) / args.steps
    epoch_seconds = step_seconds * EPOCH_UPDATES

    meter = CorrelationMeter(model, x, max_rows=config.correlation_rows)
    meter.measure(0)  # warm-up: builds the block-output model
    seconds = []
    for epoch in range(1, args.repeats + 1):
        start = time.perf_counter()
        row = meter.measure(epoch)
        seconds.append(time.perf_counter() - start)
    measure_seconds = statistics.median(seconds)
    weight_rows = sum(1 for key in row if key.startswith("forward/"))
    print(f"update: {step_seconds:.2f} s, epoch of {EPOCH_UPDATES} updates: {epoch_seconds:.0f} s")
    print(f"correlations ({weight_rows} weight layers x 3 row kinds, {len(meter.block_names)} block outputs): "
          f"{measure_seconds:.2f} s (median of {args.repeats}: {', '.join(f'{s:.2f}' for s in seconds)})")
    print(f"fraction of an epoch: {100 * measure_seconds / epoch_seconds:.3f}% (target <= 3%)")


if __name__ == "__main__":
    main()
