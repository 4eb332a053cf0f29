"""abc overhead: one training step of initlab's width-1024, 7-layer μP MLP against the same network as a plain Keras model.

What: the training-step time (ms per update) of the abc study's network (models/abc_mlp.py, reference/weightnorm_abc.md
§B1, §B2) in μP, `ABCDense` layers with their multipliers m^{-a} trained through `ScaledLearningRate(SGD)`
(lib/optimizers/scaled_lr.py, the per-variable learning-rate scales m^{-c}), against a plain `keras.Sequential` of
`Dense` layers with the same parameter shapes (the same layers with and without a bias) trained by plain SGD, in one
run, on each Keras backend. The network is fc_ipllr_mnist's recorded run (its yaml's header): MNIST-shaped 784 inputs,
n_layers 7 (L = 6: 784 -> 6 x 1024 relu -> 10 logits, bias on the input layer only), batch 512, SGD lr 0.01.
Variants, so that a difference can be put where it comes from:
  keras         keras.Sequential of Dense + keras.optimizers.SGD                       (the baseline)
  keras_scaled  the same model + ScaledLearningRate(SGD): the optimizer wrapper's cost
  mup_sgd       abc_mlp μP + keras.optimizers.SGD: the model's cost (multipliers, separate Activation layers)
  mup_scaled    abc_mlp μP + ScaledLearningRate(SGD): initlab, as the study builds it  (the goal's row)
  mup_warmup    mup_scaled with IP-LLR's warm-up switch (the `where` on the update counter; warm-up scales equal to
                the later ones, so the weights stay those of mup_scaled and only the switch's arithmetic is added)

How: softmax cross-entropy on the logits, no metrics but the loss, one update per batch, on random data cycled from
DISTINCT_BATCHES batches made once (on JAX placed on the device, so no copy is timed). Every variant trains with
`model.fit` as lib/runs/training.py does (Keras' `jit_compile="auto"`: XLA on JAX, a plain tf.function on a CPU-only
TensorFlow), timed from each epoch's start to its end (where fit reads the loss back). Each backend runs in its own
child process (the backend is fixed when Keras is imported). In a child every variant is built and trained one untimed
epoch (tracing, compiling), then --repeats rounds time one epoch of --steps updates of each variant in turn, the order
alternating between rounds, so that the machine's other work falls on every variant alike; ms/step is the median over
rounds, a ratio is that of the medians against `keras` (the per-round ratios of mup_scaled are printed too).
Goal: mup_scaled / keras <= 1.10 (issue 14), on both backends.

On a shared machine pass --threads 1 (each child pinned to one core): with more threads than free cores the ratios
measure the contention.

    python bench/abc_overhead.py [--backends tensorflow jax] [--variants keras ... mup_warmup] [--repeats 5]
        [--steps 10] [--batch 512] [--width 1024] [--n_layers 7] [--threads N]
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = "RESULT "  # prefix of a child's result line
BACKENDS = ("tensorflow", "jax")
VARIANTS = {  # name -> (model, optimizer, what it adds)
    "keras": ("plain", "sgd", "keras.Sequential(Dense) + SGD"),
    "keras_scaled": ("plain", "scaled", "+ ScaledLearningRate"),
    "mup_sgd": ("mup", "sgd", "abc_mlp muP + SGD"),
    "mup_scaled": ("mup", "scaled", "abc_mlp muP + ScaledLearningRate"),
    "mup_warmup": ("mup", "warmup", "+ warm-up switch"),
}
BASELINE, GOAL_VARIANT, GOAL = "keras", "mup_scaled", 1.10
INPUTS, CLASSES, LEARNING_RATE, SEED = 784, 10, 0.01, 0  # fc_ipllr_mnist: MNIST flattened, SGD lr 0.01
DISTINCT_BATCHES = 4


def timed_rounds(variants: dict, repeats: int) -> dict:
    """{variant: train(one epoch) -> seconds}: one untimed epoch each, then `repeats` rounds of one timed epoch of
    every variant, the order alternating between rounds. {variant: [seconds per round]}."""
    for train in variants.values():
        train()
    seconds = {variant: [] for variant in variants}
    for round_index in range(repeats):
        order = list(variants) if round_index % 2 == 0 else list(reversed(variants))
        for variant in order:
            seconds[variant].append(variants[variant]())
    return seconds


# ---- child: one backend -------------------------------------------------------------------------------------------

def mup_model(args):
    from models import MODELS

    return MODELS.build("abc_mlp", (INPUTS,), CLASSES, seed=SEED, parameterization="mup", width=args.width,
                        n_layers=args.n_layers)


def plain_model(mup):
    """keras.Sequential of Dense layers with mup's shapes (bias where mup's layer has one), Keras' default init."""
    import keras

    from models.abc_mlp import abc_layers

    layers = abc_layers(mup)
    return keras.Sequential([keras.Input((INPUTS,)), *(
        keras.layers.Dense(layer.units, activation=None if index == len(layers) - 1 else "relu", use_bias=layer.use_bias)
        for index, layer in enumerate(layers))], name="plain_mlp")


def optimizer(kind: str, model, scales: list[float]):
    """SGD, or ScaledLearningRate(SGD) with `scales` in the order of the model's trainable variables (mup's)."""
    import keras

    from lib.optimizers.scaled_lr import ScaledLearningRate

    sgd = keras.optimizers.SGD(learning_rate=LEARNING_RATE)
    if kind == "sgd":
        return sgd
    by_path = {variable.path: scale for variable, scale in zip(model.trainable_variables, scales, strict=True)}
    if kind == "scaled":
        return ScaledLearningRate(sgd, by_path)
    return ScaledLearningRate(sgd, by_path, warmup_scales=by_path, n_warmup_steps=1)


def trainer(model, batches, updates: int):
    """One fit epoch of `updates` updates over the cycled batches -> (seconds from the epoch's start to its end, loss)."""
    import keras

    class CyclicBatches(keras.utils.PyDataset):
        def __len__(self):
            return updates

        def __getitem__(self, index):
            return batches[index % len(batches)]

    class EpochClock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds = time.perf_counter() - self.start
            self.loss = float(logs["loss"])

    data = CyclicBatches()
    losses = []

    def train() -> float:
        clock = EpochClock()
        model.fit(data, epochs=1, callbacks=[clock], verbose=0)
        losses.append(clock.loss)
        return clock.seconds

    return train, losses


def measure(args) -> None:
    import keras
    import numpy as np

    from models.abc_mlp import lr_scales

    mup = mup_model(args)
    scales = [lr_scales(mup)[variable.path] for variable in mup.trainable_variables]
    models = {}
    for variant in args.variants:
        kind, optimizer_kind, _ = VARIANTS[variant]
        model = (mup_model(args) if kind == "mup" else plain_model(mup))
        model.compile(optimizer=optimizer(optimizer_kind, model, scales),
                      loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        models[variant] = model
    place = keras.ops.convert_to_tensor if keras.backend.backend() == "jax" else np.asarray
    rng = np.random.default_rng(SEED)
    batches = [(place(rng.standard_normal((args.batch, INPUTS)).astype("float32")),
                place(np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, args.batch)]))
               for _ in range(DISTINCT_BATCHES)]
    trainers = {variant: trainer(model, batches, args.steps) for variant, model in models.items()}
    seconds = timed_rounds({variant: train for variant, (train, _) in trainers.items()}, args.repeats)
    print(RESULT + json.dumps({
        "backend": keras.backend.backend(), "jit": bool(next(iter(models.values())).jit_compile),
        "params": {variant: sum(math.prod(w.shape) for w in model.trainable_weights) for variant, model in models.items()},
        "ms": {variant: [1000 * s / args.steps for s in values] for variant, values in seconds.items()},
        "loss": {variant: losses[-1] for variant, (_, losses) in trainers.items()}}), flush=True)


# ---- driver -------------------------------------------------------------------------------------------------------

def run_child(backend: str, args) -> dict:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.threads:  # before the child's numeric libraries start their thread pools
        env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    start = time.perf_counter()
    output = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], "--child"], env=env,
                            stdout=subprocess.PIPE, text=True, check=False)
    results = [json.loads(line[len(RESULT):]) for line in output.stdout.splitlines() if line.startswith(RESULT)]
    if output.returncode != 0 or not results:
        sys.exit(f"the measurement on {backend} failed (exit code {output.returncode})")
    print(f"  {backend}: {time.perf_counter() - start:.0f} s", flush=True)
    return results[-1]


def median_ms(row: dict, variant: str) -> float:
    return statistics.median(row["ms"][variant])


def print_table(rows: list[dict], args) -> None:
    header = (f"{'backend':<17} {'variant':<13} {'adds':<33} {'params':>10} {'ms/step':>9} {'/keras':>7} "
              f"{'final loss':>10}")
    print(f"\nms per update, median of {args.repeats} rounds of {args.steps} updates (batch {args.batch}, "
          f"{INPUTS} -> {args.n_layers - 1} x {args.width} -> {CLASSES})\n{header}\n{'-' * len(header)}")
    for row in rows:
        backend = f"{row['backend']}{' (XLA)' if row['jit'] else ''}"
        for variant in args.variants:
            relative = median_ms(row, variant) / median_ms(row, BASELINE) if BASELINE in row["ms"] else math.nan
            print(f"{backend:<17} {variant:<13} {VARIANTS[variant][2]:<33} {row['params'][variant]:>10,} "
                  f"{median_ms(row, variant):>9.2f} {relative:>7.3f} {row['loss'][variant]:>10.3g}")
    if {BASELINE, GOAL_VARIANT} <= set(args.variants):
        for row in rows:
            rounds = ", ".join(f"{ours / base:.3f}" for ours, base in zip(row["ms"][GOAL_VARIANT], row["ms"][BASELINE]))
            print(f"per-round {GOAL_VARIANT}/{BASELINE} on {row['backend']}: {rounds}")
        ratios = {row["backend"]: median_ms(row, GOAL_VARIANT) / median_ms(row, BASELINE) for row in rows}
        missing = [backend for backend in BACKENDS if backend not in ratios]
        met = all(ratio <= GOAL for ratio in ratios.values())
        verdict = "NOT met" if not met else f"met, but {', '.join(missing)} not measured" if missing else "met"
        print(f"goal: {GOAL_VARIANT}/{BASELINE} <= {GOAL:.2f}: "
              + ", ".join(f"{backend} {ratio:.3f}" for backend, ratio in ratios.items()) + f" ({verdict})")
    if any(not math.isfinite(loss) for row in rows for loss in row["loss"].values()):
        print("note: a variant's loss is not finite: its timing may not be that of ordinary arithmetic")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", "--backend", nargs="+", choices=BACKENDS, default=list(BACKENDS),
                        help="one child process each (default: both)")
    parser.add_argument("--variants", nargs="+", choices=tuple(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (one epoch of every variant each)")
    parser.add_argument("--steps", type=int, default=10, help="updates per timed epoch")
    parser.add_argument("--batch", type=int, default=512, help="examples per update (fc_ipllr_mnist's recorded run)")
    parser.add_argument("--width", type=int, default=1024, help="hidden width m")
    parser.add_argument("--n_layers", type=int, default=7, help="weight matrices L + 1 (the abc study's n_layers)")
    parser.add_argument("--threads", type=int, help="CPU cores per child (default: all the process may use)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.repeats, args.steps, args.batch, args.width) < 1 or args.n_layers < 2 or (
            args.threads is not None and args.threads < 1):
        parser.error("--repeats, --steps, --batch, --width and --threads must be at least 1, --n_layers at least 2")
    args.variants = list(dict.fromkeys(args.variants))
    if args.threads:  # the first --threads cores this process may use, for every library alike
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    if args.child:
        sys.path.insert(0, ROOT)
        measure(args)
        return

    backends, load = list(dict.fromkeys(args.backends)), os.getloadavg()[0]
    print(f"measuring {', '.join(args.variants)} on {', '.join(backends)} (one child process each) ...", flush=True)
    rows = [run_child(backend, args) for backend in backends]
    print_table(rows, args)
    if not args.threads and load > 0.5:
        print(f"note: load average {load:.1f} before the bench: other work shares the cores; --threads 1 is fairer")


if __name__ == "__main__":
    main()
