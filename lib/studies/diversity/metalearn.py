"""Metalearning the activation functions: DiversityNN's outer loop (reference/diversity.md §1.3-1.5).

Every outer step draws a fresh classifier, trains it for `epochs` passes over the training set
with the differentiable RMSprop-style inner optimizer, and moves the activation networks along
the metagradient of the mean inner training loss (lib.backend.metagradient) with heavy-ball SGD
on the elementwise-clamped gradient:
    g <- clip(g, -0.1, 0.1);  m <- mu_out m + g;  phi <- phi - lr_out m,   m0 = 0.
Everything random in outer step s (the classifier, the batch order, the noise draws) comes from a
generator seeded with (seed, s), so a run resumed from its checkpoint continues exactly.
"""

import dataclasses

import numpy as np

from lib.studies.diversity import networks

GRADIENT_CLAMP = 0.1  # the original's elementwise clamp of the metagradient
MOMENTUM = "momentum"
OUTER = "activation_networks"


@dataclasses.dataclass
class OuterState:
    """What the checkpoint holds: the activation networks, their momentum, the outer steps done."""

    outer: dict
    momentum: dict
    step: int = 0

    @classmethod
    def initial(cls, config) -> "OuterState":
        rng = np.random.default_rng([config.seed, 0])  # "step 0": the initial networks (steps 1.. draw from [seed, s])
        outer = networks.initial_activation_networks(rng, config.n_activations, config.outer_hidden_size)
        return cls(outer, {key: np.zeros_like(value) for key, value in outer.items()})

    def update(self, gradients: dict, learning_rate: float, momentum: float) -> None:
        for key in self.outer:
            self.momentum[key] = momentum * self.momentum[key] + np.clip(gradients[key], -GRADIENT_CLAMP, GRADIENT_CLAMP)
            self.outer[key] = self.outer[key] - learning_rate * self.momentum[key]
        self.step += 1


@dataclasses.dataclass(frozen=True)
class StepInputs:
    """The random draws of one outer step."""

    inner: dict  # the fresh classifier
    state: dict  # its optimizer state (v0 = 1)
    batches: dict  # x, y, activation_noise, hidden_noise with a leading axis of inner steps
    final_batch: dict  # one more batch (first_order's objective)
    test_noise: tuple  # (activation noise, hidden noise) of the test-set evaluation


def step_inputs(config, train, step: int) -> StepInputs:
    """Outer step `step`'s classifier, batch order and noise, from a generator seeded with (seed, step).

    Each inner epoch is a new random order of the training set (the original shuffles on GPU, its
    paper's setting; on CPU its order is fixed); an incomplete last batch is dropped, so that every
    inner step has the same shape (none is dropped for MNIST1D's 4,000 examples and batches of 200).
    """
    rng = np.random.default_rng([config.seed, step])
    n, width, hidden = config.n_activations, config.outer_hidden_size, config.inner_hidden_size
    inner = networks.initial_classifier(rng, train.x.shape[1], hidden, train.y.shape[1])
    per_epoch = len(train.x) // config.inner_batch_size
    orders = [rng.permutation(len(train.x))[:per_epoch * config.inner_batch_size] for _ in range(config.epochs + 1)]
    order = np.concatenate(orders).reshape(config.epochs + 1, per_epoch, config.inner_batch_size)
    steps = config.epochs * per_epoch
    batches = {"x": train.x[order[:-1]].reshape(steps, config.inner_batch_size, -1),
               "y": train.y[order[:-1]].reshape(steps, config.inner_batch_size, -1),
               "activation_noise": networks.uniform_noise(rng, (steps, n, width)),
               "hidden_noise": networks.uniform_noise(rng, (steps, hidden))}
    final_batch = {"x": train.x[order[-1, 0]], "y": train.y[order[-1, 0]],
                   "activation_noise": networks.uniform_noise(rng, (n, width)),
                   "hidden_noise": networks.uniform_noise(rng, (hidden,))}
    test_noise = (networks.uniform_noise(rng, (n, width)), networks.uniform_noise(rng, (hidden,)))
    return StepInputs(inner, networks.initial_optimizer_state(inner), batches, final_batch, test_noise)


def grid(config) -> np.ndarray:
    return np.linspace(*networks.GRID_RANGE, config.grid_points)


def learned_functions(config, outer: dict) -> np.ndarray:
    """Every f_i on the grid, (n, K), noise-free (the noise's mean): the functions the run has learned."""
    import keras

    noise = np.zeros((config.n_activations, config.outer_hidden_size), dtype="float32")
    values = networks.activation_values(outer, grid(config).astype("float32"), noise, config.activation)
    return keras.ops.convert_to_numpy(values).astype(np.float64)


def pairwise_distance(functions: np.ndarray) -> float:
    """Mean over pairs i < j of the RMS difference of f_i and f_j on the grid: how diverse the functions are
    (0 for n = 1)."""
    n = len(functions)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    if not pairs:
        return 0.0
    return float(np.mean([np.sqrt(np.mean((functions[i] - functions[j]) ** 2)) for i, j in pairs]))


class OuterLoop:
    """Runs outer steps and reports each as a row of scalars (history.h5's columns)."""

    def __init__(self, config, train, test):
        from lib.backend.metagradient import Metagradient

        self.config, self.train, self.test = config, train, test
        self.assignment = networks.block_assignment(config.inner_hidden_size, config.n_activations)
        loss = networks.inner_loss_function(self.assignment, config.activation)
        update = networks.rmsprop_update(config.inner_lr, config.inner_mu)
        self.metagradient = Metagradient(loss, update, config.metagradient)

    def step(self, state: OuterState) -> tuple[dict, np.ndarray]:
        """One outer step in place on `state`; returns its history row and the learned functions after it."""
        inputs = step_inputs(self.config, self.train, state.step + 1)
        result = self.metagradient(state.outer, inputs.inner, inputs.state, inputs.batches, inputs.final_batch)
        state.update(result.gradients, self.config.outer_lr, self.config.outer_mu)
        functions = learned_functions(self.config, state.outer)
        row = {"outer_loss": result.outer_loss, "final_inner_loss": float(result.inner_losses[-1]),
               "test_acc": networks.accuracy(state.outer, result.final_inner, self.test.x, self.test.y,
                                             *inputs.test_noise, self.assignment, self.config.activation),
               **{f"metagradient_norm_{i + 1}": norm for i, norm in enumerate(_norms(result.gradients))},
               "activation_distance": pairwise_distance(functions)}
        return row, functions


def _norms(gradients: dict) -> list[float]:
    """L2 norm of each activation network's metagradient (all its parameters together)."""
    squares = sum(np.sum(np.reshape(gradients[key], (len(gradients[key]), -1)).astype(np.float64) ** 2, axis=1)
                  for key in sorted(gradients))  # a fixed order: a resumed run's sums are the same to the last bit
    return [float(value) for value in np.sqrt(squares)]


def is_finite(row: dict, state: OuterState) -> bool:
    return all(np.isfinite(value) for value in row.values()) and all(np.all(np.isfinite(v)) for v in state.outer.values())
