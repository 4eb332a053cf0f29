"""Weight-norm overhead: initlab's WN networks against the same networks without WN, and against PyTorch's weight_norm.

What: the training-step time (ms per update) of the weightnorm study's networks (models/weightnorm_nets.py,
reference/weightnorm_abc.md §A3) with weight-normalized hidden layers (models/weight_norm.py, `init
orthogonal_proposed`) and with plain Dense / Conv2D layers (`init orthogonal`: the same v, so the same
arithmetic but for WN's g·v/‖v‖), in one run, on both Keras backends, for
  mlp-2x128   `wn_mlp` at the study's default size: MNIST-shaped 28x28x1 input, 2 hidden layers of 128, batch 128
  mlp-4x1024  `wn_mlp` 4 x 1024, batch 128: big enough that the step is arithmetic, not dispatch
  wrn-16-4    `wn_wrn` wrn_n 2, wrn_k 4 (no BatchNorm) on 32x32x3 images, batch --wrn_batch (64: the study's
              128 takes seconds per update on a 2-core CPU)
and the WN WRN-16-4 against bench/torch_weightnorm_models.py's PyTorch twin (same layers, same trainable
parameter count, initlab's weights load into it and give the same logits: the bench prints the check) with
`torch.nn.utils.weight_norm` (the reference's hook) and with `torch.nn.utils.parametrizations.weight_norm`.

How: the step is the study's: SGD (lr 0.01, no momentum, the study's defaults), softmax cross-entropy on the
logits, one update per batch, on random data cycled from DISTINCT_BATCHES batches made once (on JAX placed on
the device, so no copy is timed). initlab trains with `model.fit` as lib/runs/training.py does (no metrics but
the loss; Keras' `jit_compile="auto"`: XLA on JAX, a plain tf.function on a CPU-only TensorFlow), timed from
each epoch's start to its end (where fit reads the loss back); PyTorch runs an eager loop. Each backend and
PyTorch run in their own child process (the Keras backend is fixed when Keras is imported). In a child, every
variant is built and trained one untimed epoch (tracing, compiling), then --repeats rounds time one epoch
of each variant in turn, the order alternating between rounds, so that the machine's other work falls on
both alike; ms/step is the median over rounds, WN/plain the ratio of the medians (the per-round ratios are
printed too).
Goal: WN/plain <= 1.10 on the MLPs, on both backends. The WRN rows and the PyTorch comparison are reported.

On a shared machine pass --threads 1 (every side pinned to one core): with more threads than free cores the
thread pools of PyTorch and XLA slow down unevenly and the ratios measure the contention (on a 2-core CPU with
other work running, the per-round WN/plain of mlp-4x1024 on JAX spread over 1.17-2.13 with both threads and
1.22-1.25 with one; the WRN steps were 1.3-2x slower with both threads than with one).

PyTorch is not one of initlab's requirements: the torch side runs under --torch_python (default: this
interpreter if it imports torch, else /tmp/torchvenv/bin/python if present); without torch the Keras sides
still run.

    python bench/weightnorm_overhead.py [--models mlp-2x128 mlp-4x1024 wrn-16-4] [--sides jax tensorflow torch]
        [--repeats 5] [--mlp_steps 100] [--wrn_steps 3] [--wrn_batch 64] [--threads N] [--torch_python PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = "RESULT "  # prefix of a child's result line
KERAS_SIDES, TORCH = ("jax", "tensorflow"), "torch"
SIDES = (*KERAS_SIDES, TORCH)
MODELS = {  # name -> (registry entry, input shape, hyperparameters)
    "mlp-2x128": ("wn_mlp", (28, 28, 1), {"hidden_size": 128, "num_layers": 2}),
    "mlp-4x1024": ("wn_mlp", (28, 28, 1), {"hidden_size": 1024, "num_layers": 4}),
    "wrn-16-4": ("wn_wrn", (32, 32, 3), {"wrn_n": 2, "wrn_k": 4}),
}
WRN = "wrn-16-4"
CLASSES, MLP_BATCH, LEARNING_RATE, SEED = 10, 128, 0.01, 0  # the study's batch size and lr (config.py)
DISTINCT_BATCHES = 4
CHECK_BATCH = 8  # images whose logits check the PyTorch twin against initlab
KERAS_VARIANTS = {"plain": "orthogonal", "wn": "orthogonal_proposed"}  # variant -> init (same v draws)
TORCH_VARIANTS = {"plain": "none", "wn": "hook", "wn_parametrize": "parametrize"}  # variant -> twin's weight_norm
GOAL = 1.10
FALLBACK_TORCH_PYTHON = "/tmp/torchvenv/bin/python"
NO_TORCH = ("torch is not importable by {python}: install it (`pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu`) or pass an interpreter with torch and numpy with --torch_python; "
            "measuring the Keras sides")


def batch_size(model: str, args) -> int:
    return args.wrn_batch if model == WRN else MLP_BATCH


def steps(model: str, args) -> int:
    return args.wrn_steps if model == WRN else args.mlp_steps


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


# ---- Keras child ------------------------------------------------------------------------------------------------

def keras_model(name: str, variant: str):
    import keras

    from models import MODELS as REGISTRY

    entry, input_shape, hyperparameters = MODELS[name]
    model = REGISTRY.build(entry, input_shape, CLASSES, weight_norm=variant == "wn", init=KERAS_VARIANTS[variant],
                           seed=SEED, **hyperparameters)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def keras_trainer(model, batches, updates: int):
    """One fit epoch of `updates` updates over the cycled batches -> seconds from the epoch's start to its end."""
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

    data = CyclicBatches()

    def train() -> float:
        clock = EpochClock()
        model.fit(data, epochs=1, callbacks=[clock], verbose=0)
        return clock.seconds

    return train


def write_check(path: str, model, rng) -> None:
    """The model's initial weights (by variable path), CHECK_BATCH images and their logits, for the torch child."""
    import keras
    import numpy as np

    x = rng.standard_normal((CHECK_BATCH, *MODELS[WRN][1])).astype("float32")
    arrays = {f"weight_{index}": keras.ops.convert_to_numpy(variable.value) for index, variable in enumerate(model.weights)}
    np.savez(path, paths=np.array([variable.path for variable in model.weights]), x=x,
             logits=keras.ops.convert_to_numpy(model(x, training=False)), **arrays)


def keras_measure(args) -> None:
    import keras
    import numpy as np

    place = keras.ops.convert_to_tensor if keras.backend.backend() == "jax" else np.asarray
    rng = np.random.default_rng(SEED)
    for name in args.models:
        batch, input_shape = batch_size(name, args), MODELS[name][1]
        batches = [(place(rng.standard_normal((batch, *input_shape)).astype("float32")),
                    place(np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, batch)]))
                   for _ in range(DISTINCT_BATCHES)]
        models = {variant: keras_model(name, variant) for variant in KERAS_VARIANTS}
        if name == WRN and args.exchange:
            for variant, model in models.items():
                write_check(os.path.join(args.exchange, f"{variant}.npz"), model, rng)
        seconds = timed_rounds({variant: keras_trainer(model, batches, steps(name, args))
                                for variant, model in models.items()}, args.repeats)
        print(RESULT + json.dumps({
            "model": name, "side": keras.backend.backend(), "batch": batch, "steps": steps(name, args),
            "jit": bool(models["wn"].jit_compile),
            "params": {variant: sum(int(np.prod(w.shape)) for w in model.trainable_weights)
                       for variant, model in models.items()},
            "ms": {variant: [1000 * s / steps(name, args) for s in values] for variant, values in seconds.items()}}),
            flush=True)


# ---- PyTorch child (the WRN only) --------------------------------------------------------------------------------

def torch_measure(args) -> None:
    import numpy as np
    import torch
    import torch_weightnorm_models as twin  # bench/torch_weightnorm_models.py, beside this file

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    hyperparameters = MODELS[WRN][2]
    batches = twin.random_batches(DISTINCT_BATCHES, args.wrn_batch, MODELS[WRN][1], CLASSES)
    models, agreement = {}, {}
    for variant, weight_norm in TORCH_VARIANTS.items():
        models[variant] = twin.WeightNormWideResNet(hyperparameters["wrn_n"], hyperparameters["wrn_k"], CLASSES,
                                                    weight_norm)
        check = os.path.join(args.exchange or "", f"{'plain' if weight_norm == 'none' else 'wn'}.npz")
        if args.exchange and os.path.exists(check):
            # A copy of the twin gets initlab's weights: its logits must be initlab's (same architecture).
            stored = np.load(check)
            copy = twin.WeightNormWideResNet(hyperparameters["wrn_n"], hyperparameters["wrn_k"], CLASSES, weight_norm)
            twin.load_initlab_weights(copy, {str(path): stored[f"weight_{index}"]
                                             for index, path in enumerate(stored["paths"])}, weight_norm)
            with torch.no_grad():
                logits = copy(torch.from_numpy(np.ascontiguousarray(stored["x"].transpose(0, 3, 1, 2)))).numpy()
            agreement[variant] = float(np.linalg.norm(logits - stored["logits"]) / np.linalg.norm(stored["logits"]))
    trainers = {variant: twin.EagerTrainer(model, batches, LEARNING_RATE) for variant, model in models.items()}
    seconds = timed_rounds({variant: lambda trainer=trainer: trainer.train(args.wrn_steps)
                            for variant, trainer in trainers.items()}, args.repeats)
    print(RESULT + json.dumps({
        "model": WRN, "side": TORCH, "batch": args.wrn_batch, "steps": args.wrn_steps, "torch": torch.__version__,
        "params": {variant: twin.trainable_parameters(model) for variant, model in models.items()},
        "ms": {variant: [1000 * s / args.wrn_steps for s in values] for variant, values in seconds.items()},
        "agreement": agreement}), flush=True)


# ---- driver ------------------------------------------------------------------------------------------------------

def run_child(side: str, args, exchange: str) -> list[dict]:
    python = args.torch_python if side == TORCH else sys.executable
    env = {**os.environ, "KERAS_BACKEND": side if side != TORCH else "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.threads:  # before the child's numeric libraries start their thread pools
        env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [python, os.path.abspath(__file__), *sys.argv[1:], "--child", side, "--exchange", exchange]
    start = time.perf_counter()
    output = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    results = [json.loads(line[len(RESULT):]) for line in output.stdout.splitlines() if line.startswith(RESULT)]
    if output.returncode != 0 or not results:
        sys.exit(f"the measurement on {side} failed (exit code {output.returncode})")
    print(f"  {side}: {time.perf_counter() - start:.0f} s", flush=True)
    return results


def default_torch_python() -> str:
    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, check=False).returncode == 0:
        return sys.executable
    return FALLBACK_TORCH_PYTHON if os.path.exists(FALLBACK_TORCH_PYTHON) else sys.executable


def median_ms(row: dict, variant: str) -> float:
    return statistics.median(row["ms"][variant])


def ratio(row: dict, variant: str = "wn") -> float:
    return median_ms(row, variant) / median_ms(row, "plain")


def side_label(row: dict) -> str:
    if row["side"] == TORCH:
        return f"torch {row['torch'].split('+')[0]}"
    return f"keras-{row['side']}{' (XLA)' if row['jit'] else ''}"


def print_overhead(rows: list[dict], repeats: int) -> None:
    header = (f"{'model':<11} {'side':<17} {'batch':>5} {'steps':>5} {'params plain':>12} {'params WN':>10} "
              f"{'plain ms':>9} {'WN ms':>9} {'WN/plain':>8}  per-round WN/plain")
    print(f"\nWN overhead, ms per update (median of {repeats} rounds)\n{header}\n{'-' * len(header)}")
    for row in rows:
        if row["side"] == TORCH:
            continue
        rounds = ", ".join(f"{wn / plain:.3f}" for wn, plain in zip(row["ms"]["wn"], row["ms"]["plain"]))
        print(f"{row['model']:<11} {side_label(row):<17} {row['batch']:>5} {row['steps']:>5} "
              f"{row['params']['plain']:>12,} {row['params']['wn']:>10,} {median_ms(row, 'plain'):>9.2f} "
              f"{median_ms(row, 'wn'):>9.2f} {ratio(row):>8.3f}  {rounds}")


def print_goal(rows: list[dict], models: list) -> None:
    mlp_rows = [row for row in rows if row["model"].startswith("mlp") and row["side"] != TORCH]
    if not mlp_rows:
        print("goal (WN/plain <= 1.10 on the MLPs, both backends): n/a (no MLP measured)")
        return
    missing = [f"{model} {side}" for model in models if model.startswith("mlp") for side in KERAS_SIDES
               if not any(row["model"] == model and row["side"] == side for row in mlp_rows)]
    met = all(ratio(row) <= GOAL for row in mlp_rows)
    verdict = "NOT met" if not met else f"met, but {', '.join(missing)} not measured" if missing else "met"
    print(f"goal: WN/plain <= {GOAL:.2f} on the MLPs: " + ", ".join(
        f"{row['model']} {row['side']} {ratio(row):.3f}" for row in mlp_rows) + f" ({verdict})")


def print_torch(rows: list[dict], repeats: int) -> None:
    wrn = [row for row in rows if row["model"] == WRN]
    torch_row = next((row for row in wrn if row["side"] == TORCH), None)
    if torch_row is None:
        return
    print(f"\nWRN-16-4 without BatchNorm, batch {torch_row['batch']}: initlab against PyTorch, ms per update "
          f"(median of {repeats} rounds)")
    header = (f"{'side':<17} {'weight norm':<31} {'params plain':>12} {'params WN':>10} {'plain ms':>9} {'WN ms':>9} "
              f"{'WN/plain':>8} {'torch hook WN ms / WN ms':>24}")
    print(f"{header}\n{'-' * len(header)}")
    lines = [(row, "wn", "initlab WeightNormConv2D") for row in wrn if row["side"] != TORCH]
    lines += [(torch_row, "wn", "nn.utils.weight_norm (hook)"),
              (torch_row, "wn_parametrize", "parametrizations.weight_norm")]
    for row, variant, implementation in lines:
        print(f"{side_label(row):<17} {implementation:<31} {row['params']['plain']:>12,} {row['params'][variant]:>10,} "
              f"{median_ms(row, 'plain'):>9.1f} {median_ms(row, variant):>9.1f} {ratio(row, variant):>8.3f} "
              f"{median_ms(torch_row, 'wn') / median_ms(row, variant):>24.2f}")
    counts = {(side_label(row), variant): row["params"][variant] for row, variant, _ in lines}
    plain_counts = {row["params"]["plain"] for row, _, _ in lines}
    same = len(set(counts.values())) == 1 and len(plain_counts) == 1
    print(f"trainable parameters: {'equal on every side' if same else 'DIFFER: ' + str(counts)} "
          f"(WN {next(iter(counts.values())):,}, plain {next(iter(plain_counts)):,})")
    agreement = torch_row["agreement"]
    if agreement:
        print("initlab's weights in the PyTorch twin, ||logits_torch - logits_initlab|| / ||logits_initlab||: "
              + ", ".join(f"{variant} {value:.1e}" for variant, value in agreement.items()))
    print("torch hook WN ms / WN ms > 1: that side's WN WRN step is faster than PyTorch's with the reference's weight_norm")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=tuple(MODELS), default=list(MODELS))
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (one epoch of every variant each)")
    parser.add_argument("--mlp_steps", type=int, default=100, help="updates per timed MLP epoch")
    parser.add_argument("--wrn_steps", type=int, default=3, help="updates per timed WRN epoch")
    parser.add_argument("--wrn_batch", type=int, default=64, help="WRN images per update (the study's is 128)")
    parser.add_argument("--threads", type=int, help="CPU cores per side (default: all the process may use)")
    parser.add_argument("--torch_python", help="interpreter with torch and numpy (default: this one if it has torch, "
                                               f"else {FALLBACK_TORCH_PYTHON} if present)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--exchange", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if min(args.repeats, args.mlp_steps, args.wrn_steps, args.wrn_batch) < 1 or (args.threads is not None
                                                                                 and args.threads < 1):
        parser.error("--repeats, --mlp_steps, --wrn_steps, --wrn_batch and --threads must be at least 1")
    args.models = list(dict.fromkeys(args.models))
    if args.threads:  # the first --threads cores this process may use, for every library alike
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    if args.child:
        sys.path.insert(0, ROOT)
        if args.child == TORCH:
            torch_measure(args)
        else:
            keras_measure(args)
        return

    args.torch_python = args.torch_python or default_torch_python()
    sides, load = list(dict.fromkeys(args.sides)), os.getloadavg()[0]
    if TORCH in sides and WRN not in args.models:
        sides.remove(TORCH)  # the PyTorch twin is the WRN's
    if TORCH in sides and subprocess.run([args.torch_python, "-c", "import torch, numpy"], capture_output=True,
                                         check=False).returncode != 0:
        print(NO_TORCH.format(python=args.torch_python), flush=True)
        sides.remove(TORCH)
    if not sides:
        sys.exit("nothing to measure: the PyTorch side has the WRN only (add --models wrn-16-4 or a Keras side)")
    sides.sort(key=SIDES.index)  # the Keras sides first: they write the weights the PyTorch twin checks against
    print(f"measuring {', '.join(args.models)} on {', '.join(sides)} (one child process each) ...", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as exchange:
        for side in sides:
            rows += run_child(side, args, exchange)
    print_overhead(rows, args.repeats)
    print_goal(rows, args.models)
    print_torch(rows, args.repeats)
    if not args.threads and load > 0.5:
        print(f"note: load average {load:.1f} before the bench: other work shares the cores; --threads 1 is fairer")


if __name__ == "__main__":
    main()
