"""Hessian spectra: initlab (JAX, TensorFlow) against PyTorch double-backprop Hessian-vector products.

What: the two spectral measurements of reference/diversity.md §3.2 at PyHessian's defaults, on two models:
  mlp  the shape of the diversity study's MNIST1D classifier with ReLU, 40 -> 200 -> 10 logits, one batch
       of 200 random MNIST1D-shaped examples (10,210 parameters);
  wrn  ConstNet WRN-10-1 with BatchNorm (initlab's `constnet` model, varnet init; bench/torch_models.py
       has its PyTorch twin), one batch of 64 random 32x32x3 images (77,722 parameters),
both with the mean softmax cross-entropy of the logits, the model in inference mode (BatchNorm on its
moving statistics). Measured: the top eigenvalue (power iteration, at most 100 iterations, relative
tolerance 1e-3) and one stochastic Lanczos quadrature probe (100 Lanczos steps, full
reorthogonalization), each from the same start vector (NumPy seed 0) on every side.

How: three sides, each model and side in its own child process (the Keras backend is fixed when Keras
is imported):
  jax, tensorflow  lib.hessian.spectrum's top_eigenvalues and lanczos on lib.backend.hessian_vector
                   (forward over reverse, flat float64 vectors on the host)
  torch            PyHessian's form, written here from its algorithm: the gradient g of the loss is built
                   once with create_graph=True and every product is torch.autograd.grad(g, params,
                   grad_outputs=v, retain_graph=True), as PyHessian does for a single batch; vectors are
                   lists of float32 tensors, one per parameter, and the power iteration and Lanczos loops
                   are written in torch over those lists, with initlab's fixes of PyHessian's bugs (exact
                   normalization, full reorthogonalization, the symmetric eigh of the tridiagonal) and
                   initlab's Rayleigh-Ritz step after the power iteration (2 more products)
The parent builds initlab's model once, writes its weights (with its constant-at-init weights made
random, see `write_problem`), the data and a fixed probe vector to a temporary .npz, and every side
loads them (PyTorch in its layouts: Linear (out, in), Conv2d OIHW). So the sides compute the same
function: the bench prints the relative difference of H v for the probe between the sides, each side's
top eigenvalue and the largest Ritz value of its SLQ probe. In float32 H v agrees to ~1e-7 on the MLP and
~1e-4 on the WRN, whose float32 H v is itself ~4e-4 from PyTorch's float64 one (measured on the weights
drawn here; forward over reverse and reverse over reverse round differently); a layout error shows as
O(1). Each side's first H v (tracing and compiling, or building PyTorch's gradient graph) is reported
as "first call"; then the median of --repeats timed calls of each measurement, and the median of
single products ("H v ms").
Goal: initlab on JAX faster than the PyTorch form on both models, in both measurements (torch/jax > 1).

On a shared machine pass --threads 1 (every side pinned to one core): with more threads than free
cores PyTorch's OpenMP pool slows down badly (one WRN H v 0.3 s -> 1.7 s, measured on a 2-core CPU
with other work running), and so does NumPy's BLAS in initlab's reorthogonalization (1.3 s -> 11 s per
SLQ probe): the default-thread ratios then measure the contention, not the libraries.

PyTorch is not one of initlab's requirements: the torch side runs under --torch_python (default: this
interpreter if it imports torch, else /tmp/torchvenv/bin/python if present); without torch the Keras
sides still run.

    python bench/hessian_spectrum.py [--models mlp wrn] [--sides jax tensorflow torch] [--repeats 3]
        [--threads N] [--torch_python PATH]
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = "RESULT "  # prefix of a child's result line
SIDES, MODEL_NAMES = ("jax", "tensorflow", "torch"), ("mlp", "wrn")
CLASSES, MLP_INPUTS, MLP_HIDDEN, IMAGE_SHAPE, WRN_DEPTH, WRN_WIDEN = 10, 40, 200, (32, 32, 3), 10, 1
BATCH = {"mlp": 200, "wrn": 64}  # WRN-10-1 at 64 images: one H v 0.2-0.35 s on 1-2 CPU cores
MAX_ITERATIONS, TOLERANCE, LANCZOS_STEPS, SEED = 100, 1e-3, 100, 0  # PyHessian's defaults
NORM_EPSILON = 1e-6  # in the power iteration's stopping rule, as lib.hessian.spectrum's
PRODUCT_CALLS = 5  # timed single products per side
FALLBACK_TORCH_PYTHON = "/tmp/torchvenv/bin/python"
NO_TORCH = ("torch is not importable by {python}: install it (`pip install torch --index-url "
            "https://download.pytorch.org/whl/cpu`) or pass an interpreter with torch and numpy with --torch_python; "
            "measuring the Keras sides")


def keras_model(name: str):
    """initlab's model: the `constnet` registry entry with varnet's random init (ConstNet's own init has
    all-zero block convs, where most of the Hessian vanishes), or the 40 -> 200 -> 10 ReLU MLP."""
    import keras

    from models import MODELS

    if name == "wrn":
        return MODELS.build("constnet", IMAGE_SHAPE, CLASSES, depth=WRN_DEPTH, widen_factor=WRN_WIDEN, varnet=True, seed=SEED)
    keras.utils.set_random_seed(SEED)
    return keras.Sequential([keras.Input((MLP_INPUTS,)), keras.layers.Dense(MLP_HIDDEN, activation="relu", name="hidden"),
                             keras.layers.Dense(CLASSES, name="logits")], name="mlp")


def write_problem(path: str, name: str) -> None:
    """The model's weights (by variable path), one batch of random data and the probe vector, to an .npz."""
    model = keras_model(name)
    rng = np.random.default_rng(SEED)
    weights = []
    for array in model.get_weights():
        # Weights constant at init (zero logits and biases, BatchNorm's gamma, beta and statistics) get
        # U(-0.1, 0.1) added: every weight then enters H v, and a layout error in any shows in the check.
        weights.append(array + rng.uniform(-0.1, 0.1, array.shape).astype(array.dtype) if np.ptp(array) == 0 else array)
    shape = (MLP_INPUTS,) if name == "mlp" else IMAGE_SHAPE
    size = sum(int(np.prod(variable.shape)) for variable in model.trainable_variables)
    np.savez(path, names=np.array([variable.path for variable in model.weights]),
             trainable=np.array([variable.path for variable in model.trainable_variables]),
             **{f"weight_{index}": array for index, array in enumerate(weights)},
             x=rng.standard_normal((BATCH[name], *shape)).astype("float32"),
             labels=rng.integers(0, CLASSES, BATCH[name]), probe=rng.standard_normal(size))


def stored_weights(problem) -> dict:
    return {str(path): problem[f"weight_{index}"] for index, path in enumerate(problem["names"])}


def keras_side(problem, name: str) -> dict:
    """initlab under the running backend: {"product": vector -> H vector in the side's own form, "native":
    flat float64 -> that form, "flat": that form -> flat float64, "top": () -> (top eigenvalue,
    iterations), "slq": () -> one probe's Ritz values}; initlab's own form is the flat vector."""
    import keras

    from lib.backend.hessian_vector import HessianVectorProduct
    from lib.hessian.spectrum import lanczos, top_eigenvalues

    model = keras_model(name)
    weights = stored_weights(problem)
    model.set_weights([weights[variable.path] for variable in model.weights])
    y = np.eye(CLASSES, dtype="float32")[problem["labels"]]
    hvp = HessianVectorProduct(model, keras.losses.CategoricalCrossentropy(from_logits=True), [(problem["x"], y)])
    size = hvp.parameters.size

    def top():
        pairs = top_eigenvalues(hvp, size, k=1, max_iterations=MAX_ITERATIONS, tolerance=TOLERANCE, seed=SEED)
        return float(pairs.values[0]), pairs.iterations[0]

    return {"product": hvp, "native": lambda flat: flat, "flat": lambda product: product, "top": top,
            "slq": lambda: lanczos(hvp, size, steps=LANCZOS_STEPS, seed=SEED)[0]}


def torch_key(path: str, name: str) -> str:
    """A Keras variable path's PyTorch state_dict key: hidden/kernel -> hidden.weight (the MLP below),
    group2_block0_shortcut/kernel -> blocks.2.projection.weight (torch_models.ConstNetWideResNet)."""
    layer, variable = path.split("/")[-2:]
    variable = {"kernel": "weight", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
                "moving_variance": "running_var"}.get(variable, variable)
    block = re.fullmatch(r"group(\d)_block(\d+)_(bn|conv|shortcut)", layer)
    if block:
        group, index, part = block.groups()
        blocks_per_group = (WRN_DEPTH - 4) // 3
        layer = f"blocks.{(int(group) - 1) * blocks_per_group + int(index)}.{'projection' if part == 'shortcut' else part}"
    elif name == "wrn" and layer == "logits":
        layer = "classifier"
    return f"{layer}.{variable}"


def to_torch_layout(array: np.ndarray) -> np.ndarray:
    """Dense kernel (in, out) -> Linear weight (out, in); conv kernel HWIO -> OIHW."""
    return array.T if array.ndim == 2 else array.transpose(3, 2, 0, 1) if array.ndim == 4 else array


def from_torch_layout(array: np.ndarray) -> np.ndarray:
    return array.T if array.ndim == 2 else array.transpose(2, 3, 1, 0) if array.ndim == 4 else array


def torch_side(problem, name: str, threads) -> dict:
    """PyHessian's form (see the module docstring), keyed as keras_side."""
    from collections import OrderedDict

    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    if threads:
        torch.set_num_threads(threads)
    if name == "wrn":
        import torch_models  # bench/torch_models.py, beside this file

        model = torch_models.ConstNetWideResNet(WRN_DEPTH, WRN_WIDEN, CLASSES)
    else:
        model = torch.nn.Sequential(OrderedDict(hidden=torch.nn.Linear(MLP_INPUTS, MLP_HIDDEN), relu=torch.nn.ReLU(),
                                                logits=torch.nn.Linear(MLP_HIDDEN, CLASSES)))
    tensors, weights = {**dict(model.named_parameters()), **dict(model.named_buffers())}, stored_weights(problem)
    with torch.no_grad():
        for path, array in weights.items():
            tensors[torch_key(path, name)].copy_(torch.from_numpy(np.ascontiguousarray(to_torch_layout(array))))
    model.eval()  # BatchNorm on its running statistics, as initlab's training=False
    trainable = [str(path) for path in problem["trainable"]]
    params = [tensors[torch_key(path, name)] for path in trainable]  # initlab's order
    if len(params) != len(list(model.parameters())):
        raise ValueError(f"{len(params)} of the {len(list(model.parameters()))} PyTorch parameters have an initlab twin")
    shapes = [weights[path].shape for path in trainable]
    ends = np.cumsum([int(np.prod(shape)) for shape in shapes])
    x = torch.from_numpy(problem["x"] if name == "mlp" else np.ascontiguousarray(problem["x"].transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(problem["labels"])
    gradient = []  # built by the first product, then reused (retain_graph), as PyHessian does given one batch

    def native(flat):
        parts = np.split(np.asarray(flat), ends[:-1])
        return [torch.from_numpy(np.ascontiguousarray(to_torch_layout(part.reshape(shape))).astype("float32"))
                for part, shape in zip(parts, shapes)]

    def flat(vectors):
        return np.concatenate([from_torch_layout(v.numpy()).astype("float64").ravel() for v in vectors])

    def product(vectors):
        if not gradient:
            gradient.extend(torch.autograd.grad(F.cross_entropy(model(x), labels), params, create_graph=True))
        return list(torch.autograd.grad(gradient, params, grad_outputs=vectors, retain_graph=True))

    def top():
        return torch_top_eigenvalue(product, native(np.random.default_rng(SEED).standard_normal(ends[-1])))

    def slq():
        return torch_lanczos(product, np.random.default_rng(SEED), native, int(ends[-1]))

    return {"product": product, "native": native, "flat": flat, "top": top, "slq": slq}


def dot(xs, ys) -> float:
    return float(sum((x * y).sum() for x, y in zip(xs, ys)))


def normalized(vectors):
    """v / |v| exactly (PyHessian divides by |v| + 1e-6)."""
    norm = dot(vectors, vectors) ** 0.5
    return [v / norm for v in vectors] if norm > 0 else vectors


def orthonormalized(vectors, basis):
    for b in basis:
        coefficient = dot(vectors, b)
        vectors = [v - coefficient * w for v, w in zip(vectors, b)]
    return normalized(vectors)


def torch_top_eigenvalue(product, start) -> tuple[float, int]:
    """Power iteration on lists of tensors with the stopping rule of lib.hessian.spectrum.top_eigenvalues,
    then its Rayleigh-Ritz value: (eigenvalue, power iterations)."""
    v, value = normalized(start), None
    for iteration in range(1, MAX_ITERATIONS + 1):
        hv = product(v)
        estimate = dot(hv, v)
        v = normalized(hv)
        if value is not None and abs(value - estimate) / (abs(value) + NORM_EPSILON) < TOLERANCE:
            return rayleigh_ritz(product, v), iteration
        value = estimate
    return rayleigh_ritz(product, v), MAX_ITERATIONS


def rayleigh_ritz(product, v) -> float:
    """lib.hessian.spectrum.rayleigh_ritz for one vector: the eigenvalue of largest magnitude of H on
    span{v, Hv} (2 products), which corrects the power value where a close eigenvalue mixes into v."""
    import torch

    hv = product(v)
    residual = hv
    for _ in range(2):  # twice, as initlab: one pass leaves a small residual not yet orthogonal to v
        coefficient = dot(residual, v)
        residual = [r - coefficient * b for r, b in zip(residual, v)]
    if dot(residual, residual) ** 0.5 <= 1e-8 * dot(hv, hv) ** 0.5:  # v is an eigenvector already
        return dot(hv, v)
    basis = [v, normalized(residual)]
    products = [hv, product(basis[1])]
    projected = torch.tensor([[dot(b, p) for p in products] for b in basis], dtype=torch.float64)
    values = torch.linalg.eigh((projected + projected.T) / 2)[0]
    return float(values[torch.argmax(values.abs())])


def torch_lanczos(product, rng, native, size: int) -> np.ndarray:
    """One SLQ probe's Ritz values: Lanczos from the same Rademacher vector as lib.hessian.spectrum.lanczos,
    every new vector orthogonalized against the whole basis, then eigh of the symmetric tridiagonal."""
    import torch

    basis, alphas, betas, w = [normalized(native(rng.choice([-1.0, 1.0], size=size)))], [], [], None
    for step in range(min(LANCZOS_STEPS, size)):
        if step > 0:
            betas.append(dot(w, w) ** 0.5)
            v = [t / betas[-1] for t in w] if betas[-1] > NORM_EPSILON else native(rng.standard_normal(size))
            basis.append(orthonormalized(v, basis))
        hv = product(basis[-1])
        alphas.append(dot(hv, basis[-1]))
        w = [h - alphas[-1] * b for h, b in zip(hv, basis[-1])]
        if step > 0:
            w = [t - betas[-1] * c for t, c in zip(w, basis[-2])]
    tridiagonal = torch.diag(torch.tensor(alphas, dtype=torch.float64))
    if betas:
        off = torch.tensor(betas, dtype=torch.float64)
        tridiagonal += torch.diag(off, 1) + torch.diag(off, -1)
    return torch.linalg.eigh(tridiagonal)[0].numpy()


def timed(call, repeats: int):
    """(the last call's result, each call's seconds)."""
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        seconds.append(time.perf_counter() - start)
    return result, seconds


def measure(args) -> None:
    """Child process: one model on one side; H v of the probe and the Ritz values go to an .npz beside the problem."""
    problem = dict(np.load(args.problem))
    side = torch_side(problem, args.model, args.threads) if args.child == "torch" else keras_side(problem, args.model)
    probe = side["native"](problem["probe"])
    start = time.perf_counter()  # tracing and compiling, or PyTorch's gradient graph, happen in the first product
    product = side["flat"](side["product"](probe))
    first = time.perf_counter() - start
    _, product_seconds = timed(lambda: side["product"](probe), max(PRODUCT_CALLS, args.repeats))
    (eigenvalue, iterations), top_seconds = timed(side["top"], args.repeats)
    nodes, slq_seconds = timed(side["slq"], args.repeats)
    np.savez(os.path.join(os.path.dirname(args.problem), f"{args.model}_{args.child}.npz"), product=product, nodes=nodes)
    print(RESULT + json.dumps({"first": first, "product": statistics.median(product_seconds),
                               "top": statistics.median(top_seconds), "iterations": iterations, "eigenvalue": eigenvalue,
                               "slq": statistics.median(slq_seconds), "largest_ritz": float(np.max(nodes))}))


def run_child(side: str, model: str, args, problem: str) -> dict:
    python = args.torch_python if side == "torch" else sys.executable
    env = {**os.environ, "KERAS_BACKEND": side, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.threads:  # before the child's numeric libraries start their thread pools
        env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [python, os.path.abspath(__file__), "--child", side, "--models", model, "--problem", problem,
               "--repeats", str(args.repeats)] + (["--threads", str(args.threads)] if args.threads else [])
    output = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    results = [json.loads(line[len(RESULT):]) for line in output.stdout.splitlines() if line.startswith(RESULT)]
    if output.returncode != 0 or not results:
        sys.exit(f"the {model} measurement on {side} failed (exit code {output.returncode})")
    return results[0]


def default_torch_python() -> str:
    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, check=False).returncode == 0:
        return sys.executable
    return FALLBACK_TORCH_PYTHON if os.path.exists(FALLBACK_TORCH_PYTHON) else sys.executable


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def print_table(results: dict, products: dict, repeats: int) -> None:
    header = (f"{'model':<5} {'side':<11} {'first call s':>12} {'H v ms':>8} {'top eig s (iter)':>17} {'torch/side':>10} "
              f"{'SLQ probe s':>11} {'torch/side':>10} {'top eigenvalue':>15} {'largest Ritz':>13}")
    print(f"\nmedian of {repeats} timed calls; mlp: batch {BATCH['mlp']}, wrn: WRN-{WRN_DEPTH}-{WRN_WIDEN}, "
          f"batch {BATCH['wrn']}\n{header}\n{'-' * len(header)}")
    for (model, side), row in results.items():
        torch_row = results.get((model, "torch"))
        ratios = [f"{torch_row[key] / row[key]:>10.2f}" if torch_row else f"{'n/a':>10}" for key in ("top", "slq")]
        print(f"{model:<5} {side:<11} {row['first']:>12.2f} {1000 * row['product']:>8.1f} "
              f"{row['top']:>10.3f} ({row['iterations']:>3}) {ratios[0]} {row['slq']:>11.3f} {ratios[1]} "
              f"{row['eigenvalue']:>15.6g} {row['largest_ritz']:>13.6g}")
    for model in dict.fromkeys(model for model, _ in products):
        sides = [side for m, side in products if m == model]
        print(f"{model}: H v agreement, ||a - b|| / ||b||: " + (", ".join(
            f"{a} vs {b} {relative_difference(products[model, a], products[model, b]):.1e}"
            for index, a in enumerate(sides) for b in sides[index + 1:]) or "n/a (one side)"))


def print_goal(results: dict, models: list) -> None:
    """Met when torch/jax > 1 for both measurements on every model."""
    if not all((model, side) in results for model in models for side in ("jax", "torch")):
        print("goal (initlab on JAX faster than the PyTorch form on both models): n/a (needs the jax and torch sides)")
        return
    ratios = {(model, key): results[model, "torch"][key] / results[model, "jax"][key] for model in models
              for key in ("top", "slq")}
    unmeasured = [model for model in MODEL_NAMES if model not in models]
    verdict = "not met" if any(ratio <= 1 for ratio in ratios.values()) else \
        f"not met: {' and '.join(unmeasured)} not measured" if unmeasured else "met"
    print("goal: initlab on JAX faster than the PyTorch form on both models: " + ", ".join(
        f"{model} {'top eigenvalue' if key == 'top' else 'SLQ probe'} torch/jax {ratio:.2f}"
        for (model, key), ratio in ratios.items()) + f" ({verdict})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES))
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--repeats", type=int, default=3, help="timed calls of each measurement, after the first call")
    parser.add_argument("--threads", type=int, help="CPU cores per side (default: all the process may use)")
    parser.add_argument("--torch_python", help="interpreter with torch and numpy (default: this one if it has torch, "
                                               f"else {FALLBACK_TORCH_PYTHON} if present)")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--repeats and --threads must be at least 1")
    if args.threads:  # the first --threads cores this process may use, for every library alike
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    if args.child:
        args.model = args.models[0]
        sys.path.insert(0, ROOT)
        measure(args)
        return
    args.torch_python = args.torch_python or default_torch_python()
    sides, models, load = list(dict.fromkeys(args.sides)), list(dict.fromkeys(args.models)), os.getloadavg()[0]
    if "torch" in sides and subprocess.run([args.torch_python, "-c", "import torch, numpy"],
                                           capture_output=True, check=False).returncode != 0:
        print(NO_TORCH.format(python=args.torch_python), flush=True)
        sides.remove("torch")

    results, products = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        os.environ.setdefault("KERAS_BACKEND", "jax")  # this process only draws the weights, with initlab's builders
        sys.path.insert(0, ROOT)
        for model in models:
            problem = os.path.join(folder, f"{model}.npz")
            write_problem(problem, model)
            for side in sides:
                print(f"measuring {model} on {side} ...", flush=True)
                results[model, side] = run_child(side, model, args, problem)
                products[model, side] = np.load(os.path.join(folder, f"{model}_{side}.npz"))["product"]
    print_table(results, products, args.repeats)
    print_goal(results, models)
    if not args.threads and load > 0.5:
        print(f"note: load average {load:.1f} before the bench: other work shares the cores; --threads 1 is fairer")


if __name__ == "__main__":
    main()
