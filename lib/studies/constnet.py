"""The constnet study: Blumenfeld, Gilboa & Soudry (2020), flag-compatible with BeyondSigProp's train.py.

ConstNet starts every channel identical; only non-deterministic arithmetic or dropout breaks the
symmetry. LeakyNet places averaging / identity / random layers to control how far that
symmetry-breaking noise travels. Defaults are the original's (reference/constnet.md §1).
"""

import dataclasses
import math
import os

from lib.config import RunOptions, non_negative_int, option, positive_float, positive_int, run_name, to_json
from lib.environment import active_backend
from lib.errors import UsageError
from lib.studies import STUDIES, Study
from lib.studies.constnet_flags import (ARCHS, DATASET_OPTIONS, STREAM_EPOCH_EXAMPLES, gpu_ids, gpu_range,
                                        non_negative_float, probability, sigma_w_value, wrn_depth)


@dataclasses.dataclass(frozen=True)
class ConstnetConfig(RunOptions):
    arch: str = option("constnet", "ConstNet Wide-ResNet or LeakyNet plain CNN", flags=("-a", "--arch"), choices=ARCHS)
    layers: int = option(28, "depth d, with (d - 4) divisible by 3: (d - 4)/3 one-conv blocks per group", parse=wrn_depth)
    widen_factor: int = option(10, "k: group widths 16k, 32k, 64k", flags=("--widen-factor",), parse=positive_int)
    batchnorm: bool = option(False, "pre-activation BatchNorm in every block (every run of the paper passes it)")
    disable_fixup: bool = option(False, "as the original, passing --fixup turns the Fixup scalars OFF; only "
                                 "without --batchnorm, where they are required", flags=("--fixup",))
    droprate: float = option(0.0, "dropout on every residual-branch output (ConstNet) or after every activation "
                             "(LeakyNet)", parse=probability)
    dropl1: bool = option(False, "ConstNet: dropout on conv1's output too")
    varnet: bool = option(False, "random fan-out Gaussian init (the paper's 'He' baseline) instead of ConstNet's")
    sigma_w: float = option(-1.0, "variance multiplier of random block convs (-1: 1 with --varnet, else 0)",
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
    momentum: float = option(0.9, "SGD momentum", parse=probability)
    nesterov: bool = option(False, "Nesterov momentum")
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


def resolve(config: ConstnetConfig) -> ConstnetConfig:
    """Reject contradictory flags; fill sigma_w from --varnet as the original does."""
    from lib.init_codes import parse_init_string

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
    return dataclasses.replace(config, sigma_w=sigma_w, backend=config.backend or active_backend())


def default_run_name(config: ConstnetConfig) -> str:
    if config.arch == "leakynet":
        return f"lrnet_{config.init}"
    parts = [f"constnet-{config.layers}-{config.widen_factor}"]
    parts += ["varnet"] * config.varnet + ["deterministic"] * config.deterministic
    parts += [f"drop{config.droprate:g}"] * (config.droprate > 0) + ["noaug"] * config.no_augment
    return "-".join(parts)


def run_path(config: ConstnetConfig) -> str:
    return os.path.join(config.output_dir, config.dataset, config.name or default_run_name(config))


def load_data(config: ConstnetConfig):
    """(train, test, num_classes): the training split (a held-out validation part merged back in,
    as the original trains on all 50,000 CIFAR images) and the test split evaluated every epoch."""
    import numpy as np

    from lib.datasets import DATASETS
    from lib.datasets.splits import Split

    splits = DATASETS.build(config.dataset, seed=config.seed, **DATASET_OPTIONS[config.dataset])
    train = splits.train
    if isinstance(train, Split):
        train = Split(np.concatenate([train.x, splits.validation.x]), np.concatenate([train.y, splits.validation.y]))
    return train, splits.test, splits.num_classes


def steps_per_epoch(config: ConstnetConfig, train) -> int:
    if config.steps_per_epoch is not None:
        return config.steps_per_epoch
    examples = len(train) if hasattr(train, "__len__") else STREAM_EPOCH_EXAMPLES
    return math.ceil(examples / config.batch_size)


def build_model(config: ConstnetConfig, input_shape, num_classes: int, steps: int, *, synchronized_bn: bool = False):
    """The network, compiled as the original: SGD with momentum, the epoch-step schedule, cross-entropy on logits."""
    import keras

    from lib.schedules import EpochStepDrops
    from models import MODELS

    common = dict(depth=config.layers, widen_factor=config.widen_factor, batchnorm=config.batchnorm,
                  droprate=config.droprate, weight_decay=config.weight_decay, synchronized_bn=synchronized_bn,
                  seed=config.seed)
    if config.arch == "constnet":
        model = MODELS.build("constnet", input_shape, num_classes, fixup=not config.disable_fixup,
                             dropout_conv1=config.dropl1, varnet=config.varnet, sigma_w=config.sigma_w, **common)
    else:  # the original's --varnet sets LeakyNet's classifier noise to 1
        model = MODELS.build("leakynet", input_shape, num_classes, init=config.init, lrelu=config.lrelu,
                             noise=1.0 if config.varnet else config.noise, **common)
    optimizer = keras.optimizers.SGD(EpochStepDrops(config.lr, steps, config.epochs), momentum=config.momentum,
                                     nesterov=config.nesterov)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc"),
                           keras.metrics.CategoricalCrossentropy(from_logits=True, name="ce")])
    return model


def train(config: ConstnetConfig, data, *, strategy=None, run_dir=None, start_epoch=0, verbose=None, extra_callbacks=()):
    """Build (inside `strategy`'s scope), train with per-epoch correlations (from `start_epoch`'s
    checkpoint), evaluate; returns (model, results)."""
    import keras

    from lib import distribute
    from lib.augment import pad_crop_flip
    from lib.environment import check_backend
    from lib.pipeline import fit_inputs
    from lib.precision import apply_policy
    from lib.training import train_and_evaluate

    train_split, test, num_classes = data
    steps = steps_per_epoch(config, train_split)
    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    with distribute.scope(strategy):
        model = build_model(config, test.x.shape[1:], num_classes, steps,
                            synchronized_bn=distribute.synchronized_batch_norm(strategy))
    callbacks = list(extra_callbacks)
    if run_dir is not None:
        callbacks += run_callbacks(config, test, run_dir, start_epoch)
    inputs = fit_inputs(train_split, batch_size=config.batch_size, steps_per_epoch=steps, num_classes=num_classes,
                        flat=False, seed=config.seed, augment=None if config.no_augment else pad_crop_flip)
    results = train_and_evaluate(model, inputs, validation=test, test=None, run=run_dir, config_json=to_json(config),
                                 epochs=config.epochs, start_epoch=start_epoch, validation_is_test=True,
                                 callbacks=callbacks, verbose=verbose)
    return model, results


def run_callbacks(config: ConstnetConfig, test, run_dir, start_epoch: int = 0) -> list:
    """Correlations at init and after every epoch; Keras weight files (last, best) unless --no-saves."""
    import keras

    from callbacks.correlation_monitor import CorrelationMonitor
    from lib.correlation_log import CorrelationScalars, CorrelationTable
    from lib.correlation_meter import CorrelationMeter
    from lib.h5store import read_epoch_table

    probe = test.x[:config.probe_size]
    table = CorrelationTable(run_dir.file("correlations.h5"), to_json(config), resume=start_epoch > 0)
    callbacks = [CorrelationMonitor(
        lambda model: CorrelationMeter(model, probe, max_rows=config.correlation_rows, seed=config.seed),
        table, CorrelationScalars(run_dir.file("tb")), start_epoch=start_epoch)]
    if not config.no_saves:
        best_so_far = float(max(read_epoch_table(run_dir.file("history.h5"))["val_acc"])) if start_epoch else None
        os.makedirs(run_dir.file("checkpoints"), exist_ok=True)
        callbacks += [keras.callbacks.ModelCheckpoint(run_dir.file("checkpoints/last.weights.h5"), save_weights_only=True),
                      keras.callbacks.ModelCheckpoint(run_dir.file("checkpoints/best.weights.h5"), save_weights_only=True,
                                                      monitor="val_acc", mode="max", save_best_only=True,
                                                      initial_value_threshold=best_so_far)]
    return callbacks


def run(config: ConstnetConfig, argv: list[str]) -> int:
    from lib import distribute
    from lib.determinism import enable_deterministic_ops
    from lib.run_dir import check_run_path, open_run

    config = resolve(config)
    path = run_path(config)
    check_run_path(path, overwrite=config.overwrite, resume=config.resume)
    if config.deterministic:
        enable_deterministic_ops()
    strategy = distribute.strategy_for_gpu_ids(gpu_ids(config.device))
    data = load_data(config)
    run_dir, start_epoch = open_run(path, config, argv)
    kind = "ConstNet" if config.arch == "constnet" else f"LeakyNet --init {config.init} alpha {config.lrelu}"
    print(f"constnet: {kind} WRN-{config.layers}-{config.widen_factor}, {config.dataset}, batch {config.batch_size}, "
          f"{config.epochs} epochs of {steps_per_epoch(config, data[0])} steps -> {path}"
          + (f", resumed after epoch {start_epoch}" if start_epoch else ""), flush=True)
    _, results = train(config, data, strategy=strategy, run_dir=run_dir, start_epoch=start_epoch)
    print(f"best test accuracy {100 * results['best_test_acc']:.2f}%, final {100 * results['final_test_acc']:.2f}%",
          flush=True)
    return 0


DESCRIPTION = "Blumenfeld et al. 2020: ConstNet / LeakyNet Wide-ResNets, symmetry breaking, weight correlations"
STUDIES.add("constnet", Study(ConstnetConfig, run, DESCRIPTION, resolve=resolve), summary=DESCRIPTION)
