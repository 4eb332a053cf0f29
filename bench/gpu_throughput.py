"""GPU training throughput of initlab (Keras, JAX backend by default) against PyTorch twins, in one table.

Measured, in images/s of training updates (forward, backward, optimizer step):
1. ConstNet WRN-16-10 (reference/constnet.md §2.1), CIFAR-10-shaped random data, batch 128:
   initlab's `constnet.build_model` (SGD momentum, L2 weight decay, cross-entropy on logits)
   in fp32 and under the `mixed_bfloat16` policy, against bench/torch_models.py's WRN of the
   same architecture and parameter count in PyTorch eager fp32 and eager bf16 autocast with
   channels_last. Goal: initlab bf16 / best PyTorch >= 1.2.
2. The same initlab runs with the constnet study's per-epoch callbacks on (correlation
   measurement on 128 probe images, run checkpoint): overhead against (1). Goal: <= 3%.
3. The Glorot MLP (1024 -> 5 x 1000 tanh -> 9 softmax, plain SGD) at batch 10 and 128:
   initlab's `glorot.build_model` against a PyTorch MLP of the same shape and loss.

Why it is fair: both sides do the same updates (--epochs x --epoch_steps for the WRN, --steps
for the MLP) at the same batch size, cycling through DISTINCT_BATCHES random batches placed on
the device once, so no host->device copy is timed on either side. initlab trains through
`model.fit` as the studies do (compiled metrics included), timed between epoch ends, where fit
reads the loss back from the device; PyTorch runs a plain eager loop with cudnn autotuning,
timed between torch.cuda.synchronize calls. Both warm up first (initlab: one untimed epoch,
with the XLA compilation and the first correlation measurement; PyTorch: WARMUP_UPDATES).
Both use random fan-out weights (ConstNet's --varnet), so every correlation is really computed.

Each measurement runs in a child process of this script (hidden `--_one KIND`), because the
Keras backend and the global dtype policy are fixed per process; each child prints one JSON
line, and the driver prints the table.

    python bench/gpu_throughput.py [--backend jax|tensorflow] [--device auto|cpu|cuda]
                                   [--epochs 2] [--epoch_steps 391] [--steps 2000] [--tiny]
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

RESULT_PREFIX = "gpu_throughput result: "
EXCEPTION_LINE = re.compile(r"[A-Za-z_][\w.]*(Error|Exception)(:|$)")
NO_TORCH = "PyTorch not installed: pip install -r requirements-bench.txt"
IMAGE_SHAPE, NUM_CLASSES = (32, 32, 3), 10
MLP_INPUTS, MLP_CLASSES, MLP_HIDDEN_LAYERS, MLP_BATCHES = 1024, 9, 5, (10, 128)
DISTINCT_BATCHES = 8  # random batches placed on the device once and cycled
WARMUP_UPDATES = 10
GOAL_BF16_RATIO, GOAL_OVERHEAD_PERCENT = 1.2, 3.0
IMPLEMENTATIONS = {  # measurement kind (a child process) -> what its row ran
    "initlab-wrn:fp32": "initlab keras-{backend} fp32",
    "initlab-wrn:bf16": "initlab keras-{backend} mixed_bfloat16",
    "torch-wrn:fp32": "PyTorch eager fp32",
    "torch-wrn:bf16": "PyTorch eager bf16 autocast, channels_last",
    **{f"{framework}-mlp:{batch}": label for batch in MLP_BATCHES
       for framework, label in (("initlab", "initlab keras-{backend} fp32"), ("torch", "PyTorch eager fp32"))},
}
WRN_KINDS = tuple(kind for kind in IMPLEMENTATIONS if "-wrn:" in kind)  # initlab fp32, bf16; torch fp32, bf16


@dataclasses.dataclass(frozen=True)
class Sizes:
    depth: int = 16
    widen_factor: int = 10
    batch: int = 128
    epochs: int = 2  # timed epochs after the warm-up epoch
    epoch_steps: int = 391  # one CIFAR-10 epoch at batch 128
    mlp_units: int = 1000
    mlp_steps: int = 2000


TINY = Sizes(depth=10, widen_factor=1, batch=8, epochs=2, epoch_steps=3, mlp_units=64, mlp_steps=20)


def sizes_from(args) -> Sizes:
    sizes = TINY if args.tiny else Sizes()
    given = {"epochs": args.epochs, "epoch_steps": args.epoch_steps, "mlp_steps": args.steps}
    return dataclasses.replace(sizes, **{name: value for name, value in given.items() if value is not None})


# ---- children: one measurement each -------------------------------------------------------

def keras_device() -> str:
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else device.device_kind
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "cpu"


def keras_batches(rng, batch: int, example_shape, num_classes: int):
    """Random batches with one-hot labels; on JAX placed on the device now, so that fit's own
    device_put of each batch is a no-op."""
    import keras
    import numpy as np

    place = keras.ops.convert_to_tensor if keras.backend.backend() == "jax" else np.asarray
    return [(place(rng.normal(size=(batch, *example_shape)).astype(np.float32)),
             place(np.eye(num_classes, dtype=np.float32)[rng.integers(0, num_classes, batch)]))
            for _ in range(DISTINCT_BATCHES)]


def fit_images_per_second(model, batches, steps: int, epochs: int, callbacks=()) -> float:
    """Fit one warm-up epoch and `epochs` timed epochs of `steps` updates each."""
    import keras

    class CyclicBatches(keras.utils.PyDataset):
        def __len__(self):
            return steps

        def __getitem__(self, index):
            return batches[index % len(batches)]

    class EpochEndClock(keras.callbacks.Callback):
        """Last in the list, so that each epoch's interval includes the other callbacks' work."""

        def on_train_begin(self, logs=None):
            self.stamps = []

        def on_epoch_end(self, epoch, logs=None):
            self.stamps.append(time.perf_counter())

    clock = EpochEndClock()
    model.fit(CyclicBatches(), epochs=1 + epochs, callbacks=[*callbacks, clock], verbose=0)
    return epochs * steps * int(batches[0][0].shape[0]) / (clock.stamps[-1] - clock.stamps[0])


def trainable_count(model) -> int:
    import numpy as np

    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def initlab_wrn(sizes: Sizes, precision: str) -> dict:
    import keras
    import numpy as np

    from callbacks.epoch_checkpoint import EpochCheckpoint
    from callbacks.epoch_monitor import EpochMonitor
    from lib.studies.constnet import run as constnet
    from lib.studies.constnet.meter import CorrelationMeter

    if precision == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    config = constnet.resolve(constnet.ConstnetConfig(layers=sizes.depth, widen_factor=sizes.widen_factor,
                                                      batchnorm=True, varnet=True, batch_size=sizes.batch))
    keras.utils.set_random_seed(0)
    model = constnet.build_model(config, IMAGE_SHAPE, NUM_CLASSES, sizes.epoch_steps)
    rng = np.random.default_rng(0)
    batches = keras_batches(rng, sizes.batch, IMAGE_SHAPE, NUM_CLASSES)
    plain = fit_images_per_second(model, batches, sizes.epoch_steps, sizes.epochs)
    probe = rng.normal(size=(config.probe_size, *IMAGE_SHAPE)).astype(np.float32)
    with tempfile.TemporaryDirectory() as run_path:
        # What constnet.run_callbacks adds per epoch, less the file writers of the measured rows.
        recording = [EpochMonitor(lambda m: CorrelationMeter(m, probe, max_rows=config.correlation_rows,
                                                                   seed=config.seed)),
                     EpochCheckpoint(run_path)]
        recorded = fit_images_per_second(model, batches, sizes.epoch_steps, sizes.epochs, recording)
    return {"device": keras_device(), "params": trainable_count(model), "images_per_s": plain,
            "recorded_images_per_s": recorded}


def initlab_mlp(sizes: Sizes, batch: int) -> dict:
    import keras
    import numpy as np

    from lib.studies.glorot import run as glorot

    config = glorot.resolve(glorot.GlorotConfig(hidden_layers=MLP_HIDDEN_LAYERS, units=sizes.mlp_units,
                                                batch_size=batch))
    keras.utils.set_random_seed(0)
    model = glorot.build_model(config, MLP_INPUTS, MLP_CLASSES)
    batches = keras_batches(np.random.default_rng(0), batch, (MLP_INPUTS,), MLP_CLASSES)
    return {"device": keras_device(), "params": trainable_count(model),
            "images_per_s": fit_images_per_second(model, batches, sizes.mlp_steps, epochs=1)}


def measure_one(kind: str, sizes: Sizes, device_choice: str) -> dict:
    what, setting = kind.split(":")
    if what == "initlab-wrn":  # initlab's device comes from the child's environment
        return initlab_wrn(sizes, setting)
    if what == "initlab-mlp":
        return initlab_mlp(sizes, int(setting))
    import torch_models

    common = dict(device_choice=device_choice, distinct_batches=DISTINCT_BATCHES, warmup_updates=WARMUP_UPDATES)
    if what == "torch-wrn":
        return torch_models.wrn_throughput(sizes.depth, sizes.widen_factor, IMAGE_SHAPE, NUM_CLASSES, sizes.batch,
                                           sizes.epochs * sizes.epoch_steps, bf16=setting == "bf16", **common)
    return torch_models.mlp_throughput(MLP_INPUTS, MLP_CLASSES, MLP_HIDDEN_LAYERS, sizes.mlp_units, int(setting),
                                       sizes.mlp_steps, **common)


# ---- driver: one child per measurement, then the table ------------------------------------

def child_environment(args) -> dict:
    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="2")
    if args.device == "cpu":
        env.update(JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    elif args.device == "cuda":
        env["JAX_PLATFORMS"] = "cuda"
    return env


def run_child(kind: str, args) -> dict:
    if kind.startswith("torch") and importlib.util.find_spec("torch") is None:
        return {"error": NO_TORCH}
    start = time.perf_counter()
    child = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--_one", kind],
                           env=child_environment(args), capture_output=True, text=True)
    results = [line[len(RESULT_PREFIX):] for line in child.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    print(f"  {kind}: {'done' if results else 'FAILED'} in {time.perf_counter() - start:.0f} s", file=sys.stderr,
          flush=True)
    if results:
        return json.loads(results[-1])
    lines = child.stderr.strip().splitlines()
    print("\n".join(lines[-20:]), file=sys.stderr, flush=True)
    # The exception line, not what JAX prints after it.
    exceptions = [line for line in lines if EXCEPTION_LINE.match(line)] or lines or [f"exit status {child.returncode}"]
    return {"error": f"failed: {exceptions[-1][:100]}"}


def rate(results: dict, kind: str, key: str = "images_per_s") -> float | None:
    """The measured images/s, None where the child failed."""
    return results[kind].get(key)


def overhead_percent(results: dict, kind: str) -> float | None:
    plain, recorded = rate(results, kind), rate(results, kind, "recorded_images_per_s")
    return 100 * (plain / recorded - 1) if plain and recorded else None


def table_rows(results: dict, sizes: Sizes, backend: str) -> list[tuple[str, ...]]:
    wrn = f"WRN-{sizes.depth}-{sizes.widen_factor} b{sizes.batch}"
    lines = [(wrn, kind, "images_per_s", "") for kind in WRN_KINDS]
    lines += [(f"{wrn} + per-epoch callbacks", kind, "recorded_images_per_s",
               f"overhead {overhead_percent(results, kind):+.1f}% (goal <= {GOAL_OVERHEAD_PERCENT:g}%)")
              for kind in WRN_KINDS[:2] if overhead_percent(results, kind) is not None]
    for batch in MLP_BATCHES:
        mlp = f"MLP {MLP_INPUTS}-{MLP_HIDDEN_LAYERS}x{sizes.mlp_units}-{MLP_CLASSES} b{batch}"
        initlab, torch = rate(results, f"initlab-mlp:{batch}"), rate(results, f"torch-mlp:{batch}")
        note = f"initlab / PyTorch {initlab / torch:.2f}" if initlab and torch else ""
        lines += [(mlp, f"initlab-mlp:{batch}", "images_per_s", note), (mlp, f"torch-mlp:{batch}", "images_per_s", "")]
    rows = [("measurement", "implementation", "device", "trainable params", "images/s", "note")]
    for measurement, kind, key, note in lines:
        result, implementation = results[kind], IMPLEMENTATIONS[kind].format(backend=backend)
        if "error" in result:
            rows.append((measurement, implementation, "-", "-", "-", result["error"]))
        else:
            rows.append((measurement, implementation, result["device"], f"{result['params']:,}",
                         f"{result[key]:,.0f}" if result[key] >= 100 else f"{result[key]:.1f}", note))
    return rows


def goal_lines(results: dict) -> list[str]:
    lines = []
    best_torch = max(filter(None, (rate(results, kind) for kind in WRN_KINDS[2:])), default=None)
    if rate(results, "initlab-wrn:bf16") and best_torch:
        ratio = rate(results, "initlab-wrn:bf16") / best_torch
        lines.append(f"goal: initlab bf16 / best PyTorch = {ratio:.2f} (>= {GOAL_BF16_RATIO}: "
                     f"{'met' if ratio >= GOAL_BF16_RATIO else 'NOT met'})")
    else:
        lines.append("goal: initlab bf16 / best PyTorch: not measured (see the rows)")
    overheads = {kind: overhead_percent(results, kind) for kind in WRN_KINDS[:2]}
    if None not in overheads.values():
        met = max(overheads.values()) <= GOAL_OVERHEAD_PERCENT
        lines.append("goal: per-epoch correlations + checkpoint overhead " + ", ".join(
            f"{kind.split(':')[1]} {value:+.1f}%" for kind, value in overheads.items())
            + f" (<= {GOAL_OVERHEAD_PERCENT:g}%: {'met' if met else 'NOT met'})")
    else:
        lines.append("goal: per-epoch callbacks overhead: not measured (see the rows)")
    counts = {results[kind]["params"] for kind in WRN_KINDS if "params" in results[kind]}
    if counts:
        lines.append(f"WRN trainable parameters: {'equal' if len(counts) == 1 else 'DIFFER: ' + str(sorted(counts))}")
    return lines


def print_table(rows) -> None:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.rjust(width) if column in (3, 4) else cell.ljust(width)
                        for column, (cell, width) in enumerate(zip(row, widths))).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default="jax", help="Keras backend of initlab")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="auto: cuda if available")
    parser.add_argument("--epochs", type=int, help="timed WRN epochs after a warm-up epoch (default 2)")
    parser.add_argument("--epoch_steps", type=int, help="updates per WRN epoch (default 391: CIFAR-10 at batch 128)")
    parser.add_argument("--steps", type=int, help="timed MLP updates (default 2000)")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test: WRN-10-1, batch 8, MLP width 64, "
                        "3-update epochs, 20 MLP updates")
    parser.add_argument("--_one", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sizes = sizes_from(args)
    if args._one:
        print(RESULT_PREFIX + json.dumps(measure_one(args._one, sizes, args.device)), flush=True)
        return
    no_gpu = args.device == "cpu" or (args.device == "auto" and not os.path.exists("/dev/nvidiactl"))
    if no_gpu and not args.tiny:
        print("warning: no NVIDIA GPU in use; these are GPU benchmarks (use --tiny for a CPU smoke test)",
              file=sys.stderr, flush=True)
    print(f"training throughput, initlab on Keras {args.backend}, {sizes}; one child process per measurement:",
          file=sys.stderr, flush=True)
    results = {kind: run_child(kind, args) for kind in IMPLEMENTATIONS}
    print_table(table_rows(results, sizes, args.backend))
    print("\n".join(goal_lines(results)))
    if args.tiny:
        print("(--tiny: a smoke test; at these sizes the goals mean nothing)")


if __name__ == "__main__":
    main()
