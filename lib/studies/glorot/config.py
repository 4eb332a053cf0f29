"""The glorot study's configuration: Glorot & Bengio (2010), flags compatible with the xavier_init replication.

Depth: xavier_init's "four/five layers" count *weight* layers (3 or 4 hidden layers + the
softmax layer); the paper's Table 1 uses 5 *hidden* layers. `--five_layer` keeps the
original meaning (4 hidden layers); `--hidden_layers N` states the paper's count directly.
"""

import dataclasses
import math
import os
from typing import ClassVar

from lib.config import RunOptions, non_negative_int, option, positive_float, positive_int, run_name
from lib.datasets import DATASETS
from lib.datasets.splits import StreamSplit
from lib.distribution.options import HostOptions, check_hosts
from lib.environment import active_backend
from lib.errors import UsageError
from lib.hessian.options import HessianOptions
from lib.initializers import INITIALIZERS
from lib.initializers.beyond_sigprop import CONV_ONLY
from lib.initializers.torch_default import BIAS_ONLY

ACTIVATIONS = ("sigmoid", "tanh", "softsign", "relu")
# xavier_init's budget (reference/glorot.md §1.5): 2.5e7 training examples per run.
BUDGET_EXAMPLES = 25_000_000
# The paper's datasets train for the budget, ceil(2.5e7 / training examples) epochs of one pass:
# mnist 500 on its 50,000 (xavier_init's 416 were for 60,000), cifar10 and cifar100 625 on 40,000.
BUDGET_DATASETS = ("mnist", "cifar10", "cifar100")
# The small offline sets would need thousands of passes (digits: 20,886), so they keep 100.
SMALL_DATASET_EPOCHS = 100
BATCH_SIZES = {"shapeset": 10}  # the paper's mini-batches of 10 on Shapeset (§2.3)
DEFAULT_BATCH_SIZE = 32  # xavier_init's --batch_size default for the other datasets
# An epoch of a stream (Shapeset) is xavier_init's 20,000 updates; 125 of them at batch 10 are the budget.
STREAM_STEPS_PER_EPOCH = 20_000
STREAM_EPOCHS = math.ceil(BUDGET_EXAMPLES / (STREAM_STEPS_PER_EPOCH * BATCH_SIZES["shapeset"]))
DEBUG_EPOCHS = 5
DEBUG_EXAMPLES = 1000  # array datasets: the first 1,000 training examples, as xavier_init
DEBUG_STEPS = 1000  # streams (Shapeset): 1,000 updates per epoch, as xavier_init
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


@dataclasses.dataclass(frozen=True)
class GlorotConfig(RunOptions, HessianOptions, HostOptions):
    study: ClassVar[str] = "glorot"

    activation: str = option("tanh", "hidden-layer nonlinearity", choices=ACTIVATIONS)
    xavier: bool = option(False, "normalized init (paper Eq. 16, glorot_uniform) instead of standard (Eq. 1)")
    init: str | None = option(None, "initializer by registry name (overrides the --xavier choice)",
                              choices=lambda: [name for name in INITIALIZERS.names() if name not in CONV_ONLY + BIAS_ONLY], metavar="NAME")
    five_layer: bool = option(False, "xavier_init's 'five layers' = 4 hidden layers + softmax (default: 3 hidden + softmax)",
                              flags=("--five_layer", "--is_five_layers"))
    hidden_layers: int | None = option(None, "number of hidden layers, the paper's count (Table 1 uses 5); replaces --five_layer",
                                       parse=positive_int, metavar="N")
    units: int = option(1000, "units per hidden layer", parse=positive_int)
    dataset: str = option("shapeset", "training data", choices=DATASETS.names)
    lr: float = option(1e-3, "SGD learning rate", parse=positive_float)
    batch_size: int | None = option(None, "mini-batch size (default: 10 for shapeset as the paper, 32 otherwise)",
                                    parse=positive_int)
    epochs: int | None = option(None, "epochs (default: xavier_init's budget of 2.5e7 training examples: shapeset 125 "
                                "epochs of 20000 updates, mnist 500, cifar10 and cifar100 625 = ceil(2.5e7 / training "
                                "examples); digits and mnist1d 100)", parse=positive_int)
    steps_per_epoch: int | None = option(None, "updates per epoch (default: streams (shapeset) 20000, else one pass over the data, "
                                         "ceil(examples / batch))", parse=positive_int)
    steps_per_execution: int = option(1, "training steps per compiled call (faster small batches; 1 under --num_gpus > 1)",
                                      parse=positive_int)
    record_every: int = option(1, "record activations and gradients on the probe set at init and every N epochs (0: off)",
                               parse=non_negative_int, metavar="N")
    probe_size: int = option(300, "probe examples: the first N of the validation set (the paper's 300)",
                             parse=positive_int, metavar="N")
    record_dtype: str = option("float32", "storage type of recorded arrays", choices=("float32", "float16"))
    record_compression: str = option("none", "h5 compression of recorded arrays", choices=("none", "gzip", "lzf"))
    record_weights: str = option("init", "store kernels and biases at init only, or with every record",
                                 choices=("init", "all"))
    seed: int = option(0, "seed of the weights, the data stream and shuffling", parse=non_negative_int)
    num_gpus: int = option(1, "0 hides GPUs, 1 uses the default device, N > 1 trains under MirroredStrategy",
                           parse=non_negative_int)
    debug: bool = option(False, "5 epochs on 1,000 examples (shapeset: 1,000 updates per epoch); nothing saved")
    name: str | None = option(None, "run directory name (default: <activation>-<xavier|random>-<four|five>_layers)",
                              parse=run_name)


def resolve(config: GlorotConfig) -> GlorotConfig:
    """Fill the choices implied by other flags and reject contradictory combinations."""
    # A resolved config (config.json, read back by `resume`) holds both a flag and what it implies,
    # so only a disagreement is a contradiction: resolve(resolve(c)) == resolve(c).
    if config.init not in (None, "normalized") and config.xavier:
        raise UsageError("--xavier and --init both choose the initializer; pass only one of them")
    if config.hidden_layers not in (None, 4) and config.five_layer:
        raise UsageError("--five_layer and --hidden_layers both set the depth; pass only one of them")
    config = dataclasses.replace(
        config,
        init=config.init or ("normalized" if config.xavier else "standard"),
        hidden_layers=config.hidden_layers or (4 if config.five_layer else 3),
        backend=config.backend or active_backend())
    check_hosts(config)
    if config.num_hosts > 1 and config.num_gpus > 1:
        raise UsageError("on several hosts each process trains on every device it sees: drop --num_gpus "
                         "(choose a process's GPUs with CUDA_VISIBLE_DEVICES)")
    return config


def default_epochs(dataset: str, train) -> int:
    """The budget in epochs: streams STREAM_EPOCHS, the paper's array datasets ceil(2.5e7 / len(train))."""
    if isinstance(train, StreamSplit):
        return STREAM_EPOCHS
    return math.ceil(BUDGET_EXAMPLES / len(train)) if dataset in BUDGET_DATASETS else SMALL_DATASET_EPOCHS


def with_data_defaults(config: GlorotConfig, splits) -> GlorotConfig:
    """Epochs, steps and batch size for the dataset (an array epoch: one pass, the debug cut applied)."""
    streamed = isinstance(splits.train, StreamSplit)
    epochs = config.epochs or (DEBUG_EPOCHS if config.debug else default_epochs(config.dataset, splits.train))
    batch_size = config.batch_size or BATCH_SIZES.get(config.dataset, DEFAULT_BATCH_SIZE)
    steps = config.steps_per_epoch
    if steps is None and streamed:
        steps = DEBUG_STEPS if config.debug else STREAM_STEPS_PER_EPOCH
    elif steps is None:
        examples = min(len(splits.train), DEBUG_EXAMPLES) if config.debug else len(splits.train)
        steps = math.ceil(examples / batch_size)
    return dataclasses.replace(config, epochs=epochs, steps_per_epoch=steps, batch_size=batch_size)


def default_run_name(config: GlorotConfig) -> str:
    """xavier_init's `<activation>-<xavier|random>-<four|five>_layers`, counting weight layers."""
    init_word = {"normalized": "xavier", "standard": "random"}.get(config.init, config.init)
    weight_layers = config.hidden_layers + 1
    return f"{config.activation}-{init_word}-{NUMBER_WORDS.get(weight_layers, str(weight_layers))}_layers"


def run_path(config: GlorotConfig) -> str:
    return os.path.join(config.output_dir, config.dataset, config.name or default_run_name(config))
