"""The diversity study's configuration and flags: Choudhary et al. (2022), *Neural networks embrace
diversity*, flag-compatible with DiversityNN's Driver.py (reference/diversity.md §1.6).

Without `--act_path` a run metalearns the activation functions; with it, it trains validation
networks that use the learned functions (pure, diverse, or the un-learned base). Defaults are the
original's. No Keras here, so flag errors stay fast.
"""

import argparse
import dataclasses
import os
from typing import ClassVar

from lib.config import (
    RunOptions,
    non_negative_int,
    option,
    parse_number,
    positive_float,
    positive_int,
    run_name,
    unit_interval,
)
from lib.environment import active_backend
from lib.errors import UsageError

BASES = ("sin", "tanh", "elu")
METAGRADIENTS = ("unrolled", "first_order")
# The original's dataset names -> initlab's; transfer datasets are flattened to vectors in [0, 1].
DATASET_NAMES = {"mnist1d": "mnist1d", "mnist": "mnist", "cifar": "cifar10", "cifar10": "cifar10"}
DIVERSE, BASE = "diverse", "base"
# --debug (DESIGN.md, Tests): a smoke test that exercises the whole run and saves nothing.
DEBUG_STEPS = 3
DEBUG_EPOCHS = 1
DEBUG_EXAMPLES = 400


def dataset_name(text: str) -> str:
    name = DATASET_NAMES.get(text.lower())
    if name is None:
        raise argparse.ArgumentTypeError(f"must be one of MNIST1D, MNIST, CIFAR, got '{text}'")
    return name


def validation_mode(text: str) -> str:
    """The original's int k >= 1 (pure: every neuron uses learned activation k) or False/0 (diverse),
    plus `base` (every neuron uses the un-learned base function). Stored as 'k', 'diverse' or 'base'."""
    lowered = text.lower()
    if lowered in ("false", "0", DIVERSE):
        return DIVERSE
    if lowered == BASE:
        return BASE
    value = parse_number(int, text, "an activation number k >= 1, 0/False (diverse) or base")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an activation number k >= 1, 0/False (diverse) or base, got '{text}'")
    return str(value)


def grid_size(text: str) -> int:
    value = parse_number(int, text, "an integer >= 2")
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2, got '{text}'")
    return value


def activation_steps(text: str) -> tuple[int, ...]:
    """analyze's --activation_steps: comma-separated outer steps >= 0 (0: the initial functions)."""
    try:
        steps = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated outer steps such as 0,150,300, got '{text}'") from None
    if any(step < 0 for step in steps):
        raise argparse.ArgumentTypeError(f"must be outer steps >= 0, got '{text}'")
    return steps


@dataclasses.dataclass(frozen=True)
class DiversityConfig(RunOptions):
    study: ClassVar[str] = "diversity"

    activation: str = option("sin", "base function: learned activation i is f_i(x) = base(x) + 0.2 g_i(x)",
                             choices=BASES)
    n_activations: int = option(1, "number of learned activation functions n (the hidden neurons split into n "
                                "contiguous blocks)", parse=positive_int)
    inner_batch_size: int = option(200, "classifier batch size (metalearning and validation)", parse=positive_int)
    outer_batch_size: int = option(1, "accepted for the original's command lines; the original ignores it, and so "
                                   "does initlab", parse=positive_int)
    epochs: int = option(5, "inner epochs per outer step (metalearning); training epochs (validation)",
                         parse=positive_int)
    steps: int = option(300, "outer steps (metalearning updates of the activation networks)", parse=positive_int)
    inner_lr: float = option(1e-2, "inner learning rate: the RMSprop-style step (metalearning); validation uses the "
                             "learned run's", parse=positive_float)
    outer_lr: float = option(0.4, "learning rate of the activation networks' SGD (heavy-ball momentum)",
                             parse=positive_float)
    inner_mu: float = option(0.8, "RMSprop decay of the inner optimizer (metalearning); SGD momentum (validation)",
                             parse=unit_interval)
    outer_mu: float = option(0.8, "heavy-ball momentum of the activation networks' SGD (the original's README says "
                             "RMSprop; its code is SGD)", parse=unit_interval)
    inner_hidden_size: int = option(200, "classifier width H (D -> H -> 10)", parse=positive_int)
    outer_hidden_size: int = option(50, "activation-network width (1 -> width -> 1, tanh)", parse=positive_int)
    seed: int = option(100, "seed: run r of --runs uses seed + r", parse=non_negative_int)
    runs: int = option(1, "repeats with seeds seed, seed + 1, ... (metalearning: one run directory each)",
                       parse=positive_int)
    dataset: str = option("mnist1d", "MNIST1D (metalearning and validation; the package's local generator, 4,000 "
                          "train / 1,000 test), MNIST or CIFAR (validation only: transfer)", parse=dataset_name,
                          metavar="{MNIST1D,MNIST,CIFAR}")
    nn_type: str = option("FCN", "classifier type (the original has only FCN)", choices=("FCN",))
    metagradient: str = option("unrolled", "unrolled: backpropagation through every inner step (the original); "
                               "first_order: the trained classifier's loss on one batch (jaxDiversity)",
                               choices=METAGRADIENTS)
    act_path: str | None = option(None, "learned activations (a metalearning run directory, its activations.txt/.h5, "
                                  "or the original's text file): train validation networks instead of metalearning",
                                  metavar="FILE")
    validation_mode: str = option(DIVERSE, "with --act_path: k >= 1 = every hidden neuron uses learned activation k "
                                  "(pure); 0/False = all learned activations in blocks (diverse); base = the "
                                  "un-learned base function", parse=validation_mode, metavar="{k,0,False,base}")
    data_path: str | None = option(None, "folder holding mnist.npz / cifar-10-batches-py (default: Keras' dataset "
                                   "cache, ~/.keras/datasets)", metavar="DIR")
    output_dir: str = option("model_history", "where run directories go: <output_dir>/<dataset>/<name>/",
                             flags=("--output_dir", "--output_folder"))
    use_gpu: bool = option(False, "run on GPU --gpu_no (default: CPU only, as the original)")
    gpu_no: int = option(0, "the GPU --use_gpu runs on", parse=non_negative_int)
    verbose: bool = option(False, "print every outer step (default: every --print_every)")
    print_every: int = option(5, "outer steps between progress lines (the original's 5)", parse=positive_int)
    save_curve: bool = option(False, "also write the original's text curves (outer losses, inner test accuracy; "
                              "validation: per-epoch rows); history.h5 has them anyway")
    save_model: bool = option(False, "validation: save run 0's network as model.keras")
    checkpoint_every: int = option(10, "outer steps between checkpoints (resume continues from the last)",
                                   parse=positive_int)
    grid_points: int = option(100, "points of the x grid on [-5, 5] where the learned activations are recorded "
                              "(the original's 100)", parse=grid_size)
    name: str | None = option(None, "run directory name (default: meta_<act>_n<n>_seed<seed>, or "
                              "validation_<mode>_<act>_seed<seed>)", parse=run_name)
    debug: bool = option(False, f"smoke test: {DEBUG_STEPS} outer steps of {DEBUG_EPOCHS} inner epoch on the first "
                         f"{DEBUG_EXAMPLES} examples (validation: {DEBUG_EPOCHS} epoch); nothing saved")

    @property
    def is_validation(self) -> bool:
        return self.act_path is not None


def resolve(config: DiversityConfig) -> DiversityConfig:
    """Reject contradictory flags; idempotent (resume resolves a config read from config.json)."""
    if config.debug and config.resume:
        raise UsageError("--debug runs save nothing, so there is nothing to --resume")
    if config.mixed_precision:
        raise UsageError("--mixed_precision is not offered by the diversity study: its networks are small and "
                         "its metagradients need float32")
    if not config.is_validation:
        if config.dataset != "mnist1d":
            raise UsageError(f"metalearning runs on MNIST1D only (the original's MNIST/CIFAR loaders give images its "
                             f"classifier cannot take); use --dataset {config.dataset} with --act_path to transfer")
        if config.n_activations > config.inner_hidden_size:
            raise UsageError(f"--n_activations {config.n_activations} is more than the {config.inner_hidden_size} "
                             "hidden neurons (--inner_hidden_size) to share them")
        if config.validation_mode != DIVERSE:
            raise UsageError("--validation_mode needs --act_path (the learned activations to validate)")
    elif not os.path.exists(config.act_path):
        raise UsageError(f"--act_path {config.act_path}: no such file or run directory")
    return dataclasses.replace(config, backend=config.backend or active_backend())


def default_run_name(config: DiversityConfig) -> str:
    if config.is_validation:
        mode = config.validation_mode if config.validation_mode in (DIVERSE, BASE) else f"pure{config.validation_mode}"
        return f"validation_{mode}_{os.path.splitext(os.path.basename(config.act_path))[0]}_seed{config.seed}"
    suffix = "" if config.metagradient == "unrolled" else "_first_order"
    return f"meta_{config.activation}_n{config.n_activations}_seed{config.seed}{suffix}"


def run_path(config: DiversityConfig) -> str:
    return os.path.join(config.output_dir, config.dataset, config.name or default_run_name(config))
