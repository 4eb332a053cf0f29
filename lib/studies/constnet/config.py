"""The constnet study's configuration and flags: Blumenfeld, Gilboa & Soudry (2020), flag-compatible with BeyondSigProp's train.py.

ConstNet starts every channel identical; only non-deterministic arithmetic or dropout breaks the
symmetry. LeakyNet places averaging / identity / random layers to control how far that
symmetry-breaking noise travels. Defaults are the original's (reference/constnet.md §1).
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
from lib.distribution.options import HostOptions, check_hosts
from lib.environment import active_backend
from lib.errors import UsageError
from lib.hessian.options import HessianOptions

ARCHS = ("constnet", "leakynet")
# The ConstNet code's CIFAR normalization (reference/constnet.md §1, Data): fixed per-channel RGB
# mean and std in pixel levels (0-255), the same for CIFAR-10 and CIFAR-100, not the data's statistics.
CIFAR_CHANNEL_MEAN = (125.3, 123.0, 113.9)
CIFAR_CHANNEL_STD = (63.0, 62.1, 66.7)
# Image datasets the study trains on, with the loader options it asks for: CIFAR as [0, 1] pixels,
# which run.load_data normalizes per channel with CHANNEL_NORMALIZATION; the others as their loader
# standardizes them.
DATASET_OPTIONS = {
    "cifar10": {"normalization": "unit"},
    "cifar100": {"normalization": "unit"},
    "mnist": {},
    "shapeset": {},
    "digits": {},
}
CHANNEL_NORMALIZATION = {"cifar10": (CIFAR_CHANNEL_MEAN, CIFAR_CHANNEL_STD),
                         "cifar100": (CIFAR_CHANNEL_MEAN, CIFAR_CHANNEL_STD)}
STREAM_EPOCH_EXAMPLES = 50_000  # an epoch of an endless stream (Shapeset): as many examples as CIFAR's
# --debug (DESIGN.md, Tests: a smoke test of a few tiny epochs, nothing saved): the first
# DEBUG_EXAMPLES training and test images (streams: as many examples per epoch), DEBUG_EPOCHS epochs.
DEBUG_EPOCHS = 3
DEBUG_EXAMPLES = 512


def wrn_depth(text: str) -> int:
    value = parse_number(int, text, "an integer")
    if value < 7 or (value - 4) % 3:
        raise argparse.ArgumentTypeError(f"must be 3n + 4 with n >= 1 blocks per group (7, 10, 16, 28, ...), got '{text}'")
    return value


def sigma_w_value(text: str) -> float:
    value = parse_number(float, text, "a number >= 0 or -1")
    if not (value == -1 or 0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, or -1 for the default, got '{text}'")
    return value


def gpu_ids(text: str) -> list[int]:
    """'0' -> [0]; 'a:b' -> [a, ..., b] (any ids: '10:11' works, unlike the original's one-digit parsing)."""
    first, _, last = text.partition(":")
    return list(range(int(first), int(last or first) + 1))


def gpu_range(text: str) -> str:
    parts = text.split(":")
    if len(parts) > 2 or not all(part.isdigit() for part in parts) or int(parts[0]) > int(parts[-1]):
        raise argparse.ArgumentTypeError(f"must be a GPU id (0) or a range a:b with a <= b (0:1, 2:3, 10:11), got '{text}'")
    return text


@dataclasses.dataclass(frozen=True)
class ConstnetConfig(RunOptions, HessianOptions, HostOptions):
    study: ClassVar[str] = "constnet"

    arch: str = option("constnet", "ConstNet Wide-ResNet or LeakyNet plain CNN", flags=("-a", "--arch"), choices=ARCHS)
    layers: int = option(28, "depth d, with (d - 4) divisible by 3: (d - 4)/3 one-conv blocks per group", parse=wrn_depth)
    widen_factor: int = option(10, "k: group widths 16k, 32k, 64k", flags=("--widen-factor",), parse=positive_int)
    batchnorm: bool = option(False, "pre-activation BatchNorm in every block (every run of the paper passes it)")
    disable_fixup: bool = option(False, "as the original, passing --fixup turns the Fixup scalars OFF; only "
                                 "without --batchnorm, where they are required", flags=("--fixup",))
    droprate: float = option(0.0, "dropout on every residual-branch output (ConstNet) or after every activation "
                             "(LeakyNet)", parse=unit_interval)
    dropl1: bool = option(False, "ConstNet: dropout on conv1's output too")
    varnet: bool = option(False, "random fan-out Gaussian init (the paper's 'He' baseline) instead of ConstNet's")
    sigma_w: float = option(-1.0, "variance multiplier of the random convs: block convs, and with --varnet conv1 and "
                            "the shortcuts too (-1: 1 with --varnet, else 0)",
                            flags=("-W", "--sigmaW"), parse=sigma_w_value)
    noise: float = option(0.0, "LeakyNet: classifier init N(0, noise/144) instead of zeros", parse=non_negative_float)
    lrelu: float = option(0.0, "LeakyNet: negative slope alpha of the leaky ReLU", parse=non_negative_float)
    init: str | None = option(None, "LeakyNet layer codes conv1_group1_group2_group3, e.g. 1_ii11_ii11_ii11: "
                              "1 average, i identity, h random, k noisy identity, n noisy average", metavar="CODES")
    dataset: str = option("cifar10", "training data", choices=tuple(DATASET_OPTIONS))
    epochs: int = option(200, "epochs; the rate drops x0.2 at epochs E-140, E-80, E-40", parse=positive_int)
    batch_size: int = option(128, "mini-batch size (training and evaluation)", flags=("-b", "--batch-size"),
                             parse=positive_int)
    lr: float = option(0.03, "initial learning rate", flags=("--lr", "--learning-rate"), parse=positive_float)
    momentum: float = option(0.9, "SGD momentum, in PyTorch's form (the rate outside the velocity)", parse=unit_interval)
    nesterov: bool = option(False, "Nesterov momentum (PyTorch's form)")
    weight_decay: float = option(5e-4, "L2 weight decay on all parameters, as the original's SGD weight_decay",
                                 flags=("--weight-decay", "--wd"), parse=non_negative_float)
    no_augment: bool = option(False, "no reflect-pad-4 crop + horizontal flip", flags=("--no-augment",))
    deterministic: bool = option(False, "deterministic ops: no GPU arithmetic noise to break the symmetry (the "
                                 "original's inverted --cudaNoise)", flags=("--cudaNoise", "--deterministic"))
    device: str = option("0", "GPU ids a:b (e.g. 0:1, 2:3, 10:11): MirroredStrategy over GPUs a..b; one id: the "
                         "default device", flags=("-d", "--device"), parse=gpu_range, metavar="IDS")
    name: str | None = option(None, "run directory name (default: constnet-<layers>-<k>[-varnet][-deterministic]"
                              "[-drop<p>][-noaug], or lrnet_<init> for LeakyNet)", parse=run_name)
    no_saves: bool = option(False, "no per-epoch weight checkpoints", flags=("--no-saves",))
    seed: int = option(0, "seed of the weights, data order, augmentation and dropout (the original used the clock)",
                       parse=non_negative_int)
    steps_per_epoch: int | None = option(None, "updates per epoch (default: one pass; streams: 50,000 examples)",
                                         parse=positive_int)
    probe_size: int = option(128, "test images whose block outputs give the channel correlations", parse=positive_int,
                             metavar="N")
    correlation_rows: int = option(5000, "rows per weight matrix in the correlations (a random subset above it)",
                                   parse=positive_int, metavar="N")
    debug: bool = option(False, f"smoke test: {DEBUG_EPOCHS} epochs (instead of --epochs) on the first {DEBUG_EXAMPLES} "
                         "training and test images; nothing saved")


def resolve(config: ConstnetConfig) -> ConstnetConfig:
    """Reject contradictory flags; fill sigma_w from --varnet as the original does."""
    from lib.initializers.leakynet_codes import parse_init_string

    if config.nesterov and config.momentum == 0:
        raise UsageError("--nesterov needs --momentum > 0 (as PyTorch's SGD)")
    if config.debug and config.resume:
        raise UsageError("--debug runs save nothing, so there is nothing to --resume")
    if not config.batchnorm and config.disable_fixup and config.arch == "constnet":
        raise UsageError("--fixup (which disables Fixup) needs --batchnorm: a ConstNet block uses one of the two")
    if config.arch == "leakynet":
        if config.init is None:
            raise UsageError("-a leakynet needs --init, e.g. --init 1_ii11_ii11_ii11 (one code per layer)")
        try:
            parse_init_string(config.init, config.layers)
        except ValueError as error:
            raise UsageError(str(error)) from None
    elif config.init is not None:
        raise UsageError("--init sets LeakyNet layers; pass -a leakynet with it (ConstNet's init is fixed)")
    sigma_w = config.sigma_w if config.sigma_w >= 0 else (1.0 if config.varnet else 0.0)
    config = dataclasses.replace(config, sigma_w=sigma_w, backend=config.backend or active_backend())
    check_hosts(config)
    if config.num_hosts > 1 and config.device != "0":
        raise UsageError("on several hosts each process trains on every device it sees: drop -d (choose a "
                         "process's GPUs with CUDA_VISIBLE_DEVICES)")
    return config


def default_run_name(config: ConstnetConfig) -> str:
    if config.arch == "leakynet":
        return f"lrnet_{config.init}"
    parts = [f"constnet-{config.layers}-{config.widen_factor}"]
    parts += ["varnet"] * config.varnet + ["deterministic"] * config.deterministic
    parts += [f"drop{config.droprate:g}"] * (config.droprate > 0) + ["noaug"] * config.no_augment
    return "-".join(parts)


def run_path(config: ConstnetConfig) -> str:
    return os.path.join(config.output_dir, config.dataset, config.name or default_run_name(config))
