"""The metalearning's two networks as functions of their parameters, on keras.ops (both backends).

DiversityNN keeps both networks as flat parameter vectors so that the classifier's whole training
run stays differentiable with respect to the activation networks (reference/diversity.md §1.1-1.3).
initlab keeps them as dicts of arrays, one entry per weight, and the same functions serve the
TensorFlow tape and `jax.grad` (lib.backend.metagradient).

Activation networks (the "outer" parameters, stacked over the n activations):
    w1, b1, w2: (n, width); b2: (n,)
    g_i(x) = w2_i . (tanh(w1_i x + b1_i) + u_i) + b2_i,   u_i ~ U(-0.1, 0.1)^width per forward call
    f_i(x) = base(x) + 0.2 g_i(x)
Classifier (the "inner" parameters): w1 (D, H), b1 (H,), w2 (H, 10), b2 (10,)
    logits = w2^T (f_assign(j)(w1^T x + b1)_j + v_j) + b2,      v ~ U(-0.1, 0.1)^H per forward call
Hidden neuron j uses activation `assignment[j]`: contiguous blocks, as the original's.
"""

import keras
import numpy as np
from keras import ops

ACTIVATION_SCALE = 0.2  # f_i = base + 0.2 g_i: the greydanus notebook's and DiversityNN's residual form
NOISE_AMPLITUDE = 0.1  # hidden noise U(-0.1, 0.1) in both networks ("smooths out gradients")
GRID_RANGE = (-5.0, 5.0)  # where the original samples the learned functions


def base_function(name: str):
    """The fixed part of every learned activation: sin, tanh or ELU (alpha = 1, as torch's nn.ELU())."""
    return {"sin": ops.sin, "tanh": ops.tanh, "elu": lambda x: ops.elu(x, alpha=1.0)}[name]


def block_assignment(hidden: int, n: int) -> np.ndarray:
    """Activation index of each of `hidden` neurons: n contiguous blocks. The original's blocks have
    floor(H/n) neurons and fail when n does not divide H; here the H mod n leftover neurons go one
    each to the first blocks (np.array_split), so every neuron has a learned activation."""
    return np.concatenate([np.full(len(block), i) for i, block in enumerate(np.array_split(np.arange(hidden), n))])


def apply_activations(outer: dict, x, noise, assignment: np.ndarray, base: str):
    """f_{assignment[j]}(x[..., j]) for every column j of x (batch, H); `noise` is (n, width)."""
    # Neuron j's parameters as a product with the one-hot (H, n) assignment matrix rather than a
    # gather: the gradient of a gather is a scatter-add, several times slower on XLA's CPU backend.
    one_hot = np.eye(outer["b2"].shape[0], dtype=keras.backend.standardize_dtype(x.dtype))[assignment]
    w1, b1, w2, noise_j = (ops.matmul(one_hot, value) for value in (outer["w1"], outer["b1"], outer["w2"], noise))
    b2 = ops.matmul(one_hot, outer["b2"])
    hidden = ops.tanh(x[..., None] * w1 + b1) + noise_j  # (batch, H, width)
    return base_function(base)(x) + ACTIVATION_SCALE * (ops.sum(hidden * w2, axis=-1) + b2)


def activation_values(outer: dict, x, noise, base: str):
    """Every f_i on the points x (K,), as (n, K): the learned functions on a grid. One noise draw
    (n, width), as the original's saved samples; zeros give the noise's mean."""
    n = outer["b2"].shape[0]
    points = ops.repeat(ops.reshape(x, (1, -1)), n, axis=0)  # (n, K)
    hidden = ops.tanh(points[..., None] * outer["w1"][:, None, :] + outer["b1"][:, None, :]) + noise[:, None, :]
    learned = ops.sum(hidden * outer["w2"][:, None, :], axis=-1) + outer["b2"][:, None]
    return base_function(base)(points) + ACTIVATION_SCALE * learned


def classifier_logits(outer: dict, inner: dict, x, activation_noise, hidden_noise, assignment, base):
    pre = ops.matmul(x, inner["w1"]) + inner["b1"]
    hidden = apply_activations(outer, pre, activation_noise, assignment, base) + hidden_noise
    return ops.matmul(hidden, inner["w2"]) + inner["b2"]


def cross_entropy(logits, labels):
    """Mean cross-entropy of one-hot `labels` (torch's CrossEntropyLoss on class indices)."""
    return -ops.mean(ops.sum(labels * ops.log_softmax(logits, axis=-1), axis=-1))


def inner_loss_function(assignment: np.ndarray, base: str):
    """loss(outer, inner, batch) of one inner step; `batch` holds x, y and that step's two noise draws."""

    def loss(outer, inner, batch):
        logits = classifier_logits(outer, inner, batch["x"], batch["activation_noise"], batch["hidden_noise"],
                                   assignment, base)
        return cross_entropy(logits, batch["y"])

    return loss


def rmsprop_update(learning_rate: float, decay: float):
    """DiversityNN's inner optimizer (§1.3), written as a function so it stays differentiable:
    v <- decay v + (1 - decay) g^2;  theta <- theta - lr g / (sqrt(v) + 1e-8), with v0 = 1, no momentum."""

    def update(inner: dict, state: dict, grads: dict):
        state = {key: decay * state[key] + (1.0 - decay) * ops.square(grads[key]) for key in inner}
        inner = {key: inner[key] - learning_rate * grads[key] / (ops.sqrt(state[key]) + 1e-8) for key in inner}
        return inner, state

    return update


def accuracy(outer: dict, inner: dict, x, y, activation_noise, hidden_noise, assignment, base) -> float:
    """Fraction of (x, y) classified right, with one noise draw as in training (the original has no eval mode)."""
    logits = classifier_logits(outer, inner, x, activation_noise, hidden_noise, assignment, base)
    return float(keras.ops.convert_to_numpy(ops.mean(ops.cast(ops.argmax(logits, -1) == ops.argmax(y, -1), "float32"))))


# Initial values, drawn on the host with NumPy: identical on both backends and reproducible from
# (seed, outer step), which makes a resumed run continue exactly.

def torch_linear(rng: np.random.Generator, fan_in: int, shape: tuple, dtype="float32") -> np.ndarray:
    """PyTorch's default nn.Linear initialization of a weight or bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def initial_activation_networks(rng: np.random.Generator, n: int, width: int, dtype="float32") -> dict:
    """n independent 1 -> width -> 1 networks, PyTorch's default init (W1, b1 ~ U(-1, 1); W2, b2 ~ U(+-1/sqrt(width)))."""
    return {"w1": torch_linear(rng, 1, (n, width), dtype), "b1": torch_linear(rng, 1, (n, width), dtype),
            "w2": torch_linear(rng, width, (n, width), dtype), "b2": torch_linear(rng, width, (n,), dtype)}


def initial_classifier(rng: np.random.Generator, inputs: int, hidden: int, classes: int, dtype="float32") -> dict:
    """A fresh D -> H -> classes classifier (drawn anew at every outer step, as the original)."""
    return {"w1": torch_linear(rng, inputs, (inputs, hidden), dtype), "b1": torch_linear(rng, inputs, (hidden,), dtype),
            "w2": torch_linear(rng, hidden, (hidden, classes), dtype), "b2": torch_linear(rng, hidden, (classes,), dtype)}


def initial_optimizer_state(inner: dict) -> dict:
    """The inner optimizer's v0 = 1 (DiversityNN's choice; RMSprop usually starts at 0)."""
    return {key: np.ones_like(value) for key, value in inner.items()}


def uniform_noise(rng: np.random.Generator, shape: tuple, dtype="float32") -> np.ndarray:
    return rng.uniform(-NOISE_AMPLITUDE, NOISE_AMPLITUDE, size=shape).astype(dtype)
