"""The abc study's configuration and flags: abc-parameterizations (Yang & Hu 2021) and IP-LLR (Hajjar,
Chizat & Giraud 2021), run as karl-hajjar/wide-networks runs them: a ModelConfig yaml file
(model_config.py, reference/weightnorm_abc.md §B4) that the jobs' click flags override (§B5).

`--config` names the yaml file: a path, or the name of a shipped one (configs/: the original's example
files, each opening with the command that runs it and what it should give). A flag given overrides the
file's value; a flag left out keeps it. (The original's jobs overwrite width, depth, lr, activation,
steps and batch size with their own defaults even when no flag is given; here the file decides unless
a flag is passed, and the shipped files' commands pass the original runs' values.) `resolve` records the
effective model configuration, every key filled in, in the config's `model` (config.json), and fills the
flags left out with the file's values, so that a resumed run needs no yaml file. No Keras here.
"""

import argparse
import dataclasses
import os
from typing import ClassVar

from lib.config import RunOptions, non_negative_int, option, positive_float, positive_int, run_name
from lib.environment import active_backend
from lib.errors import UsageError
from lib.studies.abc.model_config import (
    ACTIVATIONS,
    ModelConfig,
    Named,
    load_model_config,
    model_config_from_dict,
    named_defaults,
    not_applied,
    to_dict,
)
from lib.studies.abc.parameterizations import NON_CENTERED_MEAN, PARAMETERIZATIONS

CONFIG_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")
DEFAULT_CONFIG = "fc_ipllr_mnist"  # the paper's proposal on the original's default dataset (downloads MNIST once)

# The scheduler a parameterization (parameterizations.py, §B2) trains with, as its job sets it (§B5); the
# others have none.
SCHEDULER_OF = {"ipllr": "warmup_switch", "ipllr_bias": "warmup_switch_bias"}
# Without --parameterization, the file's scheduler says which job the file is for: warmup_switch is
# fc_ipllr_run.py's (IP-LLR), warmup_switch_bias fc_ip_bias_run.py's, none standard_fc_ip_run.py's (Naive-IP).
PARAMETERIZATION_OF_SCHEDULER = {"warmup_switch": "ipllr", "warmup_switch_bias": "ipllr_bias", None: "naive_ip"}

# The original's datasets, flattened (CIFAR-10 grayscale unless --rgb), plus initlab's offline ones
# for CPU runs; every one has 10 classes. The dataset sets architecture.input_size and output_size.
INPUT_SIZES = {"mnist": 784, "cifar10": 1024, "digits": 64, "mnist1d": 40}
RGB_INPUT_SIZE = 3 * 32 * 32
NUM_CLASSES = 10
# The original's normalization, (mean, std) of the flattened pixels in [0, 1] (§B5; RGB: per channel, the
# same for each). The offline datasets are used as their loaders give them: digits standardized, mnist1d's
# signals as the mnist1d package generates them (of order 1).
NORMALIZATION = {"mnist": (0.1307, 0.3081), "cifar10": (0.4809, 0.2392), "cifar10_rgb": (0.5, 0.5)}
SEED = 42  # the runner's: it seeds NumPy with 42, then draws the trial seeds randint(0, 100, n_trials)
TRIAL_SEED_BOUND = 100
N_TRIALS = 5  # the jobs' N_TRIALS (master)
DEBUG_STEPS, DEBUG_EXAMPLES = 3, 512  # --debug: a smoke test of the whole run, one trial, nothing saved

CLICK_TRUE = ("1", "true", "t", "yes", "y", "on")  # click.BOOL's spellings
CLICK_FALSE = ("0", "false", "f", "no", "n", "off")


def click_bool(text: str) -> bool:
    """-dld takes a value, as click's BOOL option of the original (`-dld True`)."""
    if text.strip().lower() in CLICK_TRUE + CLICK_FALSE:
        return text.strip().lower() in CLICK_TRUE
    raise argparse.ArgumentTypeError(f"must be true or false (click's spellings: {', '.join(CLICK_TRUE + CLICK_FALSE)}), "
                                     f"got '{text}'")


def depth(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be an integer >= 2 (n_layers = L + 1: an input and an output layer at "
                                         f"least), got '{text}'")
    return value


def shipped_configs() -> list[str]:
    return sorted(name.removesuffix(".yaml") for name in os.listdir(CONFIG_DIR) if name.endswith(".yaml"))


@dataclasses.dataclass(frozen=True)
class AbcConfig(RunOptions):
    study: ClassVar[str] = "abc"

    config: str = option(DEFAULT_CONFIG, "the ModelConfig yaml file: a path, or the name of a shipped one (fc_ipllr_mnist, "
                         "fc_ipllr_cifar10, standard_fc_ip_mnist, standard_fc_ip_cifar10, fc_abc)", metavar="CONFIG.yaml")
    parameterization: str | None = option(None, "abc-parameterization; sp, the standard one, is the coord check's "
                                          "baseline (default: the file's job: ipllr with a warmup_switch scheduler, "
                                          "ipllr_bias with warmup_switch_bias, else naive_ip)", choices=PARAMETERIZATIONS)
    activation: str | None = option(None, "activation of every layer (default: the file's activation.name)",
                                    flags=("--activation", "-act"), choices=tuple(ACTIVATIONS))
    n_steps: int | None = option(None, "SGD steps (default: the file's training.n_steps; training also stops after "
                                 "training.n_epochs)", flags=("--n_steps", "-N"), parse=positive_int)
    n_epochs: int | None = option(None, "passes over the training data, the other bound on training (default: the "
                                  "file's training.n_epochs)", parse=positive_int)
    base_lr: float | None = option(None, "base learning rate eta, scaled per layer by m^-c (default: the file's "
                                   "optimizer.params.lr)", flags=("--base_lr", "-lr"), parse=positive_float)
    batch_size: int | None = option(None, "examples per SGD step (default: the file's training.batch_size)",
                                    flags=("--batch_size", "-bs"), parse=positive_int)
    dataset: str | None = option(None, "training data; mnist and cifar10 as the original (CIFAR-10 grayscale), "
                                 "digits and mnist1d offline (default: the one of the file's architecture.input_size: "
                                 "784 mnist, 1024 cifar10, 64 digits, 40 mnist1d)",
                                 flags=("--dataset", "-ds"), choices=tuple(INPUT_SIZES))
    download: bool | None = option(None, "accepted for the original's command lines (-dld True): keras.datasets "
                                   "downloads MNIST and CIFAR-10 once when absent, whatever its value",
                                   flags=("--download", "-dld"), parse=click_bool, metavar="BOOL")
    rgb: bool = option(False, "CIFAR-10 in colour (d = 3072, normalized with 0.5 and 0.5), the original's RGB option")
    width: int | None = option(None, "width m of every hidden layer (default: the file's architecture.width)",
                               parse=positive_int)
    n_layers: int | None = option(None, "weight matrices L + 1, L hidden layers (default: the file's "
                                  "architecture.n_layers)", parse=depth)
    n_trials: int = option(N_TRIALS, "trials, trial_<i> each, with the runner's seeds: NumPy seeded with --seed draws "
                           "randint(0, 100, n_trials)", parse=positive_int)
    seed: int = option(SEED, "the runner's seed, from which the trial seeds are drawn", parse=non_negative_int)
    name: str | None = option(None, "run directory name (default: <parameterization>-L<L>-m<width>-<activation>-lr<lr>-"
                              "bs<batch size>[-bias][-rgb][-warmup<n>]-seed<seed>)", parse=run_name)
    debug: bool = option(False, f"{DEBUG_STEPS} SGD steps of one trial on the first {DEBUG_EXAMPLES} training, "
                         "validation and test examples; nothing saved")
    model: dict | None = option(None, "the effective ModelConfig (model_config.to_dict), set by resolve", cli=False)


def config_path(config: str) -> str:
    """--config as a file: a path as given, else the shipped file of that name."""
    if os.path.exists(config) or os.sep in config or "/" in config:
        return config
    shipped = os.path.join(CONFIG_DIR, config if config.endswith(".yaml") else f"{config}.yaml")
    if os.path.isfile(shipped):
        return shipped
    raise UsageError(f"{config}: no such config file (a path to a yaml file, or a shipped one: "
                     f"{', '.join(shipped_configs())})")


def dataset_of(model: ModelConfig, source: str) -> str:
    size = model.architecture.input_size
    for dataset, input_size in INPUT_SIZES.items():
        if input_size == size:
            return dataset
    raise UsageError(f"{source}: key 'architecture.input_size' is {size}, the input size of no dataset: pass --dataset "
                     f"({', '.join(f'{name} {input_size}' for name, input_size in INPUT_SIZES.items())})")


def model_config(config: AbcConfig) -> ModelConfig:
    """The effective ModelConfig of a resolved config."""
    return model_config_from_dict(config.model, "config.json's model")


def effective_model(model: ModelConfig, config: AbcConfig, dataset: str, parameterization: str) -> ModelConfig:
    """The file's model with the flags given, the dataset's sizes, and the parameterization's scheduler and
    init mean, as the original's jobs set them (§B5)."""
    architecture = dataclasses.replace(
        model.architecture, input_size=RGB_INPUT_SIZE if config.rgb else INPUT_SIZES[dataset], output_size=NUM_CLASSES,
        width=config.width or model.architecture.width, n_layers=config.n_layers or model.architecture.n_layers)
    activation = model.activation
    if config.activation not in (None, activation.name):
        activation = named_defaults("activation", config.activation)
    optimizer = model.optimizer
    if config.base_lr is not None:
        optimizer = Named(optimizer.name, {**optimizer.params, "lr": config.base_lr})
    # A scheduler the parameterization does not train with is replaced by the one it does, with its defaults
    # (the jobs replace the file's); the one it does keeps the file's params.
    scheduler = SCHEDULER_OF.get(parameterization)
    if scheduler is not None:
        scheduler = model.scheduler if model.scheduler and model.scheduler.name == scheduler else \
            named_defaults("scheduler", scheduler)
    initializer = model.initializer
    if parameterization == "ip_non_centered" and initializer.params["mean"] == 0:  # fc_ip_non_centered_run.py's INIT_MEAN
        initializer = Named(initializer.name, {**initializer.params, "mean": NON_CENTERED_MEAN})
    training = dataclasses.replace(model.training, n_steps=config.n_steps or model.training.n_steps,
                                   n_epochs=config.n_epochs or model.training.n_epochs,
                                   batch_size=config.batch_size or model.training.batch_size)
    return dataclasses.replace(model, architecture=architecture, activation=activation, optimizer=optimizer,
                               scheduler=scheduler, initializer=initializer, training=training)


def resolve(config: AbcConfig) -> AbcConfig:
    """Read --config (or, resumed, config.json's model), apply the flags given, record the effective model and
    fill the flags left out from it. Idempotent: resolving a resolved config changes nothing."""
    if config.debug and (config.resume or config.overwrite):
        raise UsageError("--debug runs save nothing, so there is nothing to --resume or --overwrite")
    if config.model is not None:
        model, source = model_config(config), "config.json's model"
    else:
        source = config_path(config.config)
        model = load_model_config(source)
    dataset = config.dataset or dataset_of(model, source)
    if config.rgb and dataset != "cifar10":
        raise UsageError(f"--rgb applies to cifar10 (the original's colour option), not {dataset}")
    scheduler = model.scheduler.name if model.scheduler else None
    parameterization = config.parameterization or PARAMETERIZATION_OF_SCHEDULER[scheduler]
    if not model.architecture.scale_bias_lr and parameterization != "ipllr_bias":
        raise UsageError(f"{source}: key 'architecture.scale_bias_lr' false applies to --parameterization ipllr_bias "
                         f"only, not {parameterization}")
    model = effective_model(model, config, dataset, parameterization)
    refused = not_applied(model)
    if refused:
        key, value, default = refused
        raise UsageError(f"{source}: key '{key}' is {value!r}, which initlab's abc runs do not apply; leave it at "
                         f"{default!r} (docs/studies/abc.md, differences from the original)")
    return dataclasses.replace(
        config, model=to_dict(model), dataset=dataset, parameterization=parameterization,
        activation=model.activation.name, n_steps=model.training.n_steps, n_epochs=model.training.n_epochs,
        base_lr=model.optimizer.params["lr"], batch_size=model.training.batch_size, width=model.architecture.width,
        n_layers=model.architecture.n_layers,
        backend=config.backend or active_backend())


def trial_seeds(config: AbcConfig) -> list[int]:
    """The runner's trial seeds (§B5): NumPy seeded with --seed (42), then randint(0, 100, n_trials); a prefix
    of a longer run's, so trial i has the same seed whatever --n_trials."""
    import numpy as np

    return [int(seed) for seed in np.random.RandomState(config.seed).randint(0, TRIAL_SEED_BOUND, size=config.n_trials)]


def default_run_name(config: AbcConfig) -> str:
    """What tells the original's experiment folders apart (§B5: <model>_<ds>/L=<L>_m=<m>/activation=..._lr=...
    _batchsize=..._bias=...[_warmup=<n>]), in one name, plus the seed of the trial seeds."""
    model = model_config(config)
    parts = [config.parameterization, f"L{config.n_layers - 1}", f"m{config.width}", config.activation,
             f"lr{config.base_lr:g}", f"bs{config.batch_size}"]
    parts += ["bias"] * model.architecture.bias + ["rgb"] * config.rgb
    if model.scheduler is not None:
        parts.append(f"warmup{model.scheduler.params['n_warmup_steps']}")
    return "-".join([*parts, f"seed{config.seed}"])


def run_path(config: AbcConfig) -> str:
    return os.path.join(config.output_dir, config.dataset, config.name or default_run_name(config))
