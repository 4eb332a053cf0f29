"""The weightnorm study's configuration and flags: Arpit, Campos & Bengio (2019), *How to Initialize
your Network? Robust Initialization for WeightNorm & ResNets*, flag-compatible with weightnorm-init's
train.py (reference/weightnorm_abc.md §A1).

Every train.py flag keeps its spelling, default and choices, but for the two the original leaves
None (it cannot train without them): `--dataset mnist` and `--nn mlp`, the README's example. The
init names of the seed README (before the original's rename) are accepted and stored under their
current names. No Keras here, so flag errors stay fast.
"""

import argparse
import dataclasses
import os
from typing import ClassVar

from lib.config import (
    RunOptions,
    non_negative_float,
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

# The original's datasets, plus initlab's offline ones so that the study runs on CPU without a download
# (DESIGN.md, principle 8). MNIST-1D's examples are 40-sample vectors: only the MLP takes them.
IMAGE_DATASETS = ("mnist", "cifar10", "cifar100", "digits")
VECTOR_DATASETS = ("mnist1d",)
DATASETS = (*IMAGE_DATASETS, *VECTOR_DATASETS)
CIFAR = ("cifar10", "cifar100")  # the only datasets the original augments, hence the only ones with Cutout (§A2)

NETWORKS = ("mlp", "cnn", "resnet", "wrn")
RESIDUAL_NETWORKS = ("resnet", "wrn")  # the only ones with BatchNorm and with residual blocks (§A1, §A3)

# §A1/§A4: the init names, weights' draw + WN gain: PyTorch's default g (he, orthogonal), data-dependent
# g and bias (Salimans & Kingma), or the paper's proposed g.
INITS = ("he", "orthogonal", "he_datadep", "orthogonal_datadep", "he_proposed", "orthogonal_proposed")
# The seed README's names, before the original's commit 36e8b4d renamed them to match the paper.
INIT_ALIASES = {
    "traditional": "he",
    "traditional_datadep": "he_datadep",
    "proposed": "he_proposed",
    "proposed_orthogonal": "orthogonal_proposed",
}
WEIGHT_NORM_INIT_SUFFIXES = ("_proposed", "_datadep")  # their g is set by the init: no g without WN
HANIN = "hanin"  # §A5's "stage-wise Hanin" baseline: the second conv's γ becomes (0.9^b)² instead of 1/B
DEBUG_EPOCHS, DEBUG_EXAMPLES = 2, 512  # --debug: a smoke test of the whole run on a few batches
LR_ANNEALING_TYPES = (0, 1, 2, 3, 4, 5)  # §A1's schedules; lib/studies/weightnorm/schedules.py implements each


def init_name(text: str) -> str:
    """--init: a current name, or a pre-rename one mapped to it (argparse then checks the choices)."""
    return INIT_ALIASES.get(text, text)


def open_unit_interval(text: str) -> float:
    """--val_fraction: some examples must be held out (the original asserts > 0) and some left to train on."""
    value = parse_number(float, text, "a number in (0, 1)")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 1), got '{text}'")
    return value


def annealing_type(text: str) -> int:
    return parse_number(int, text, f"one of {', '.join(map(str, LR_ANNEALING_TYPES))}")


@dataclasses.dataclass(frozen=True)
class WeightnormConfig(RunOptions):
    study: ClassVar[str] = "weightnorm"

    dataset: str = option("mnist", "training data; the original has no default (mnist here, the README's example); "
                          "mnist1d and digits are initlab's offline datasets", choices=DATASETS)
    nn: str = option("mlp", "network; the original has no default (mlp here, the README's example)", choices=NETWORKS)
    hidden_size: int = option(128, "MLP width, CNN channels, ResNet base channels (stages x1, x2, x4)", parse=positive_int)
    num_layers: int = option(2, "hidden layers of the MLP / CNN", parse=positive_int)
    num_blocks: int = option(2, "ResNet residual blocks per stage (3 stages)", parse=positive_int)
    wrn_n: int = option(6, "WRN blocks per stage N: WRN-(6N+4)-k", parse=positive_int)
    wrn_k: int = option(2, "WRN widening factor k", parse=positive_int)
    wrn_reduced_memory: bool = option(False, "stride 2 in the WRN's conv1, for memory in very deep WRNs")
    init: str = option("orthogonal_proposed", "weights (he: PyTorch's kaiming_normal_; orthogonal; he_proposed: "
                       "N(0, 1/fan_in)) and WN gain (PyTorch's default g = |v|; _datadep: Salimans & Kingma's "
                       "data-dependent g and bias; _proposed: the paper's g). The pre-rename names are accepted: "
                       + ", ".join(f"{old} = {new}" for old, new in INIT_ALIASES.items()),
                       choices=INITS, parse=init_name)
    init_extra_param: str | None = option(None, "hanin: the stage-wise Hanin baseline, second conv of a residual "
                                          "block with gamma (0.9^b)^2 instead of 1/B (ResNet/WRN, *_proposed)",
                                          choices=(HANIN,))
    weight_norm: bool = option(False, "weight-normalize the hidden conv / dense layers (never the classifier)")
    batch_norm: bool = option(False, "BatchNorm in the residual blocks (ResNet/WRN only; the ResNet also after "
                             "the stem and before the pooling)")
    seed: int = option(1, "seed of the weights, data split and order, and augmentation", parse=non_negative_int)
    num_epochs: int = option(200, "training epochs", parse=positive_int)
    optimizer: str = option("sgd", "optimizer (the original has only SGD)", choices=("sgd",))
    batch_size: int = option(128, "examples per SGD update", parse=positive_int)
    mini_batch_size: int | None = option(None, "split each update's batch into mini-batches of this size and "
                                         "accumulate their gradients; must divide --batch_size (default: "
                                         "--batch_size, no accumulation)", parse=positive_int)
    lr: float = option(0.01, "initial learning rate", parse=positive_float)
    lr_annealing_type: int = option(0, "0 constant; 1 x0.1 at 1/3 and x0.01 at 2/3 of the epochs; 2 the same at "
                                    "1/2 and 3/4; 3 x0.2 at 30%%, 60%%, 80%% (the WRN paper's); 4 and 5 x0.1 from "
                                    "epoch 91, x0.01 from 136 (He et al.'s ResNet); epochs counted from 0",
                                    choices=LR_ANNEALING_TYPES, parse=annealing_type)
    momentum: float = option(0.0, "SGD momentum", parse=unit_interval)
    weight_decay: float = option(0.0, "L2 weight decay (SGD's weight_decay) on all parameters", parse=non_negative_float)
    cutout: bool = option(False, "Cutout: one 16-pixel square hole per training image (CIFAR only)")
    warmup_epochs: float = option(0.0, "learning-rate warmup in epochs (fractions allowed): quadratic, per update, "
                                  "from --warmup_lr to the scheduled rate", parse=non_negative_float)
    warmup_lr: float = option(0.0, "learning rate at the start of the warmup", parse=non_negative_float)
    val_fraction: float = option(0.1, "fraction of the training set held out for validation (the best-validation "
                                 "checkpoint is the one tested)", parse=open_unit_interval)
    save_interval: int = option(1, "accepted for the original's command lines; unused there and here (a "
                                "checkpoint is written every epoch)", parse=positive_int)
    model: str | None = option(None, "run name (default: <nn shape>-<init>[-hanin][-wn][-bn]-seed<seed>, e.g. "
                               "mlp-2x128-orthogonal_proposed-wn-seed1)", parse=run_name)
    model_prefix: str | None = option(None, "sub-folder of the run: <output_dir>/<dataset>/<model_prefix>/<model>",
                                      parse=run_name)
    tb: bool = option(False, "accepted for the original's command lines: initlab always writes TensorBoard scalars")
    cudnn_deterministic: bool = option(False, "deterministic GPU ops (the original's cuDNN switch)")
    log_every_iter: bool = option(False, "log the running training loss after every update")
    hessian: bool = option(False, "estimate the Hessian's spectral norm at initialization (power iteration, 40 "
                           "iterations, the first 10%% of the training batches), write it to the run and exit")
    debug: bool = option(False, f"{DEBUG_EPOCHS} epochs on the first {DEBUG_EXAMPLES} training and validation "
                         "examples; nothing saved")


def resolve(config: WeightnormConfig) -> WeightnormConfig:
    """Reject contradictory flags (§A1's runtime checks, and flags the original silently ignores);
    fill --mini_batch_size. Idempotent: resume resolves a config read back from config.json."""
    if config.init.endswith(WEIGHT_NORM_INIT_SUFFIXES) and not config.weight_norm:
        raise UsageError(f"--init {config.init} sets the weight-norm gain g: pass --weight_norm, "
                         "or use --init he / orthogonal without it")
    if config.batch_norm and config.nn not in RESIDUAL_NETWORKS:
        raise UsageError(f"--batch_norm applies to --nn resnet or wrn only; the {config.nn} has no BatchNorm")
    if config.cutout and config.dataset not in CIFAR:
        raise UsageError(f"--cutout applies to CIFAR only (--dataset cifar10 or cifar100), not {config.dataset}")
    if config.init_extra_param == HANIN:
        if config.nn not in RESIDUAL_NETWORKS:
            raise UsageError("--init_extra_param hanin sets the second conv of residual blocks: use --nn resnet or wrn")
        if not config.init.endswith("_proposed"):
            raise UsageError("--init_extra_param hanin changes the proposed init's gamma: use --init he_proposed "
                             "or orthogonal_proposed")
    if config.debug and (config.resume or config.overwrite):
        raise UsageError("--debug runs save nothing, so there is nothing to --resume or --overwrite")
    if config.hessian and config.resume:
        raise UsageError("--hessian measures the initialization and trains nothing: there is nothing to --resume")
    if config.dataset in VECTOR_DATASETS and config.nn != "mlp":
        raise UsageError(f"--dataset {config.dataset} has 1-D examples, which only --nn mlp takes")
    mini_batch_size = config.mini_batch_size or config.batch_size
    if config.batch_size % mini_batch_size:
        raise UsageError(f"--mini_batch_size {mini_batch_size} does not divide --batch_size {config.batch_size}: "
                         "pass a divisor of it")
    return dataclasses.replace(config, mini_batch_size=mini_batch_size, backend=config.backend or active_backend())


def network_shape(config: WeightnormConfig) -> str:
    """The architecture in a few characters: MLP/CNN layers x width, ResNet blocks per stage and
    base width, and the WRN's own WRN-d-k name (§A3: d = 6N + 4)."""
    if config.nn == "wrn":
        return f"wrn-{6 * config.wrn_n + 4}-{config.wrn_k}"
    if config.nn == "resnet":
        return f"resnet-{config.num_blocks}b-{config.hidden_size}"
    return f"{config.nn}-{config.num_layers}x{config.hidden_size}"


def default_run_name(config: WeightnormConfig) -> str:
    """What tells runs of one sweep apart: network, init, WN/BN, seed. No timestamp (the original's
    default name has one), so that running the same command again resumes or refuses, not forks.
    A --hessian measurement is a run directory of its own, beside the training run of its flags."""
    parts = [network_shape(config), config.init]
    parts += [HANIN] * (config.init_extra_param == HANIN) + ["wn"] * config.weight_norm + ["bn"] * config.batch_norm
    return "-".join([*parts, f"seed{config.seed}", *["hessian"] * config.hessian])


def run_path(config: WeightnormConfig) -> str:
    prefix = [config.model_prefix] if config.model_prefix else []
    return os.path.join(config.output_dir, config.dataset, *prefix, config.model or default_run_name(config))
