"""One outer step of DiversityNN's unrolled metagradient: initlab (JAX, TensorFlow) against the PyTorch form.

The outer step of reference/diversity.md §1 at its defaults: a fresh 40 -> 200 -> 10 classifier
(MNIST1D-shaped random data, batch 200) trained for T = 100 inner steps by the differentiable
RMSprop-style update (v0 = 1, decay 0.8, lr 0.01), its hidden neurons in n = 2 blocks, block i
using f_i = sin + 0.2 g_i with g_i a 1 -> 50 -> 1 tanh network, U(+-0.1) hidden noise in both
networks; then the gradient of the mean inner loss with respect to the activation networks,
backpropagated through all T steps (second-order terms included).

Sides, each in its own child process (the Keras backend is fixed when Keras is imported):
  jax, tensorflow  initlab's lib.backend.metagradient on lib.studies.diversity.networks
  torch            the original's style, written here from the algorithm description: flat
                   parameter vectors, torch.autograd.grad(..., create_graph=True) at every inner
                   step, then backward of the mean inner loss to the activation networks
All sides start from the same initial values, data and noise (drawn once with NumPy, handed to
each child in a temporary .npz), so their metagradients must agree (float32: ~1e-5 relative);
the bench prints the pairwise relative differences. Each side makes one warm-up call (tracing
and compiling: "first call"), then --repeats timed calls, of which the median is reported.
Goal: initlab on JAX >= 3x faster than the PyTorch form (torch/jax >= 3).

On a shared machine pass --threads 1 (every side pinned to one core): with more threads than
free cores, PyTorch's OpenMP pool slows ~10x (measured on a 2-core CPU with one core busy),
which would flatter initlab.

PyTorch is not one of initlab's requirements: install it into the venv with
`pip install torch --index-url https://download.pytorch.org/whl/cpu`, or pass another
interpreter that has torch and numpy with --torch_python. Without it the Keras sides still run.

    python bench/diversity_metagradient.py [--inner_steps 100] [--repeats 3]
        [--sides jax tensorflow torch] [--threads N] [--torch_python PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT = "RESULT "  # prefix of a child's result line
SIDES = ("jax", "tensorflow", "torch")
INPUTS, CLASSES, HIDDEN, N_ACTIVATIONS, WIDTH, BATCH = 40, 10, 200, 2, 50, 200
LEARNING_RATE, DECAY, BASE = 0.01, 0.8, "sin"
KEYS, BATCH_KEYS = ("w1", "b1", "w2", "b2"), ("x", "y", "activation_noise", "hidden_noise")  # both networks' weights
GOAL = 3.0
NO_TORCH = ("torch is not importable by {python}: `pip install torch --index-url https://download.pytorch.org/whl/cpu` "
            "into the venv, or pass a separate venv's interpreter with --torch_python PATH; measuring the Keras sides")


def write_problem(path: str, inner_steps: int, seed: int = 0) -> None:
    """initlab's own initial values (lib.studies.diversity.networks: NumPy), random data and noise, to an .npz."""
    from lib.studies.diversity import networks

    rng = np.random.default_rng(seed)
    outer = networks.initial_activation_networks(rng, N_ACTIVATIONS, WIDTH)
    inner = networks.initial_classifier(rng, INPUTS, HIDDEN, CLASSES)
    batches = {"x": rng.normal(size=(inner_steps, BATCH, INPUTS)).astype("float32"),
               "y": np.eye(CLASSES, dtype="float32")[rng.integers(0, CLASSES, (inner_steps, BATCH))],
               "activation_noise": networks.uniform_noise(rng, (inner_steps, N_ACTIVATIONS, WIDTH)),
               "hidden_noise": networks.uniform_noise(rng, (inner_steps, HIDDEN))}
    np.savez(path, **{f"outer_{k}": v for k, v in outer.items()}, **{f"inner_{k}": v for k, v in inner.items()},
             **batches)


def keras_side(problem):
    """initlab's metagradient under the running Keras backend: a call -> (outer loss, {key: gradient})."""
    from lib.backend.metagradient import Metagradient
    from lib.studies.diversity import networks

    outer = {key: problem[f"outer_{key}"] for key in KEYS}
    inner = {key: problem[f"inner_{key}"] for key in KEYS}
    state = networks.initial_optimizer_state(inner)
    batches = {key: problem[key] for key in BATCH_KEYS}
    meta = Metagradient(networks.inner_loss_function(networks.block_assignment(HIDDEN, N_ACTIVATIONS), BASE),
                        networks.rmsprop_update(LEARNING_RATE, DECAY), "unrolled")

    def call():
        step = meta(outer, inner, state, batches)
        return step.outer_loss, step.gradients

    return call


def torch_side(problem, threads):
    """The PyTorch form: each activation network one flat vector (W1, b1, W2, b2: 151 values), the
    classifier one flat vector (10,210 values) in torch's (out, in) layout, unpacked by views."""
    import torch
    import torch.nn.functional as F  # noqa: N812 (torch's own alias)

    if threads:
        torch.set_num_threads(threads)
    block = HIDDEN // N_ACTIVATIONS
    phis_0 = [np.concatenate([problem[f"outer_{key}"][i].ravel() for key in KEYS]) for i in range(N_ACTIVATIONS)]
    theta_0 = torch.from_numpy(np.concatenate([problem["inner_w1"].T.ravel(), problem["inner_b1"],
                                               problem["inner_w2"].T.ravel(), problem["inner_b2"]]))
    x, u, v = (torch.from_numpy(problem[key]) for key in ("x", "activation_noise", "hidden_noise"))
    labels = torch.from_numpy(problem["y"].argmax(-1))

    def activation(phi, a, noise):  # f(a) = sin(a) + 0.2 g(a), elementwise through a (-1, 1) view
        column = a.reshape(-1, 1)
        hidden = torch.tanh(F.linear(column, phi[:WIDTH].view(WIDTH, 1), phi[WIDTH:2 * WIDTH])) + noise
        g = F.linear(hidden, phi[2 * WIDTH:3 * WIDTH].view(1, WIDTH), phi[3 * WIDTH:])
        return (torch.sin(column) + 0.2 * g).view(a.shape)

    def logits(theta, phis, t):
        w1_end, b1_end, w2_end = HIDDEN * INPUTS, HIDDEN * (INPUTS + 1), HIDDEN * (INPUTS + 1 + CLASSES)
        a = F.linear(x[t], theta[:w1_end].view(HIDDEN, INPUTS), theta[w1_end:b1_end])
        h = torch.cat([activation(phis[i], a[:, i * block:(i + 1) * block], u[t, i])
                       for i in range(N_ACTIVATIONS)], dim=1) + v[t]
        return F.linear(h, theta[b1_end:w2_end].view(CLASSES, HIDDEN), theta[w2_end:])

    def call():
        phis = [torch.tensor(phi, requires_grad=True) for phi in phis_0]
        theta = theta_0.clone().requires_grad_()
        second_moment = torch.ones_like(theta)  # v0 = 1
        losses = []
        for t in range(x.shape[0]):
            loss = F.cross_entropy(logits(theta, phis, t), labels[t])
            (grad,) = torch.autograd.grad(loss, theta, create_graph=True)
            second_moment = DECAY * second_moment + (1 - DECAY) * grad ** 2
            theta = theta - LEARNING_RATE * grad / (torch.sqrt(second_moment) + 1e-8)
            losses.append(loss)
        outer_loss = torch.stack(losses).mean()
        outer_loss.backward()
        flat = np.stack([phi.grad.numpy() for phi in phis])  # (n, 151) -> initlab's layout
        return float(outer_loss.detach()), {"w1": flat[:, :WIDTH], "b1": flat[:, WIDTH:2 * WIDTH],
                                   "w2": flat[:, 2 * WIDTH:3 * WIDTH], "b2": flat[:, 3 * WIDTH]}

    return call


def measure(args) -> None:
    """Child process: one side's warm-up call and timed calls; its gradients go to an .npz beside the problem."""
    problem = dict(np.load(args.problem))
    call = torch_side(problem, args.threads) if args.child == "torch" else keras_side(problem)
    start = time.perf_counter()
    outer_loss, gradients = call()
    first = time.perf_counter() - start
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    np.savez(os.path.join(os.path.dirname(args.problem), f"{args.child}.npz"), **gradients)
    print(RESULT + json.dumps({"side": args.child, "first": first, "seconds": seconds, "outer_loss": outer_loss}))


def run_child(side: str, args, problem: str):
    python = args.torch_python if side == "torch" else sys.executable
    env = {**os.environ, "KERAS_BACKEND": side, "TF_CPP_MIN_LOG_LEVEL": "2"}
    if args.threads:  # before the child's numeric libraries start their thread pools
        env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [python, os.path.abspath(__file__), "--child", side, "--problem", problem, "--repeats", str(args.repeats)]
    output = subprocess.run(command + (["--threads", str(args.threads)] if args.threads else []), env=env,
                            stdout=subprocess.PIPE, text=True, check=False)
    results = [json.loads(line[len(RESULT):]) for line in output.stdout.splitlines() if line.startswith(RESULT)]
    if output.returncode != 0 or not results:
        sys.exit(f"the {side} measurement failed (exit code {output.returncode})")
    return results[0]


def relative_difference(a: dict, b: dict) -> float:
    flat_a, flat_b = (np.concatenate([np.ravel(g[key]) for key in KEYS]) for g in (a, b))
    return float(np.linalg.norm(flat_a - flat_b) / np.linalg.norm(flat_b))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--inner_steps", type=int, default=100, help="T: inner steps per outer step")
    parser.add_argument("--repeats", type=int, default=3, help="timed outer steps per side, after the warm-up call")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES))
    parser.add_argument("--threads", type=int, help="CPU cores per side (default: all the process may use)")
    parser.add_argument("--torch_python", default=sys.executable, help="interpreter with torch and numpy")
    parser.add_argument("--child", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--problem", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner_steps < 1 or args.repeats < 1 or (args.threads is not None and args.threads < 1):
        parser.error("--inner_steps, --repeats and --threads must be at least 1")
    if args.threads:  # the first --threads cores this process may use, for every library alike
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:args.threads])
    if args.child:
        sys.path.insert(0, ROOT)
        measure(args)
        return
    sides, load = list(dict.fromkeys(args.sides)), os.getloadavg()[0]
    if "torch" in sides and subprocess.run([args.torch_python, "-c", "import torch, numpy"],
                                           capture_output=True, check=False).returncode != 0:
        print(NO_TORCH.format(python=args.torch_python), flush=True)
        sides.remove("torch")

    results, gradients = {}, {}
    with tempfile.TemporaryDirectory() as folder:
        problem = os.path.join(folder, "problem.npz")
        os.environ.setdefault("KERAS_BACKEND", "jax")  # this process only draws NumPy values with initlab's functions
        sys.path.insert(0, ROOT)
        write_problem(problem, args.inner_steps)
        for side in sides:
            print(f"measuring {side} ...", flush=True)
            results[side] = run_child(side, args, problem)
            gradients[side] = dict(np.load(os.path.join(folder, f"{side}.npz")))

    torch_median = statistics.median(results["torch"]["seconds"]) if "torch" in results else None
    header = f"{'side':<11} {'first call s':>12} {'median s/outer step':>20} {'torch/side':>11} {'outer loss':>11}"
    print(f"\nT = {args.inner_steps} inner steps, batch {BATCH}, H {HIDDEN}, n {N_ACTIVATIONS} x width {WIDTH}; "
          f"median of {args.repeats} timed calls\n{header}\n{'-' * len(header)}")
    for side, row in results.items():
        median = statistics.median(row["seconds"])
        ratio = f"{torch_median / median:>11.2f}" if torch_median else f"{'n/a':>11}"
        print(f"{side:<11} {row['first']:>12.2f} {median:>20.3f} {ratio} {row['outer_loss']:>11.6f}")
    print("metagradient agreement, ||a - b|| / ||b||: " + (", ".join(
        f"{a} vs {b} {relative_difference(gradients[a], gradients[b]):.1e}"
        for index, a in enumerate(gradients) for b in list(gradients)[index + 1:]) or "n/a (one side)"))
    if torch_median and "jax" in results:
        ratio = torch_median / statistics.median(results["jax"]["seconds"])
        print(f"goal torch/jax >= {GOAL:g}: {ratio:.2f} ({'met' if ratio >= GOAL else 'not met'})")
    if not args.threads and load > 0.5:
        print(f"note: load average {load:.1f} before the bench: other work shares the cores; --threads 1 is fairer")


if __name__ == "__main__":
    main()
