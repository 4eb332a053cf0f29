"""The glorot study: Glorot & Bengio (2010), flag-compatible with the xavier_init replication.

Depth: xavier_init's "four/five layers" count *weight* layers (3 or 4 hidden layers + the
softmax layer); the paper's Table 1 uses 5 *hidden* layers. `--five_layer` keeps the
original meaning (4 hidden layers); `--hidden_layers N` states the paper's count directly.
"""

import dataclasses
import math
import os

from lib.config import RunOptions, non_negative_int, option, positive_float, positive_int, run_name, to_json
from lib.datasets import DATASETS
from lib.environment import active_backend
from lib.errors import UsageError
from lib.initializers import INITIALIZERS
from lib.studies import STUDIES, Study

ACTIVATIONS = ("sigmoid", "tanh", "softsign", "relu")
DEBUG_EPOCHS = 5
DEBUG_EXAMPLES = 1000  # array datasets: the first 1,000 training examples, as xavier_init
DEBUG_STEPS = 1000  # streams (Shapeset): 1,000 updates per epoch, as xavier_init
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}


@dataclasses.dataclass(frozen=True)
class GlorotConfig(RunOptions):
    activation: str = option("tanh", "hidden-layer nonlinearity", choices=ACTIVATIONS)
    xavier: bool = option(False, "normalized init (paper Eq. 16, glorot_uniform) instead of standard (Eq. 1)")
    init: str | None = option(None, "initializer by registry name (overrides the --xavier choice)",
                              choices=INITIALIZERS.names, metavar="NAME")
    five_layer: bool = option(False, "xavier_init's 'five layers' = 4 hidden layers + softmax (default: 3 hidden + softmax)",
                              flags=("--five_layer", "--is_five_layers"))
    hidden_layers: int | None = option(None, "number of hidden layers, the paper's count (Table 1 uses 5); replaces --five_layer",
                                       parse=positive_int, metavar="N")
    units: int = option(1000, "units per hidden layer", parse=positive_int)
    dataset: str = option("shapeset", "training data", choices=DATASETS.names)
    lr: float = option(1e-3, "SGD learning rate", parse=positive_float)
    batch_size: int | None = option(None, "mini-batch size (default: 10 for shapeset as the paper, 32 otherwise)",
                                    parse=positive_int)
    epochs: int | None = option(None, "epochs (default: the dataset's 2.5e7-example budget: shapeset 125, mnist 416, cifar10 500)",
                                parse=positive_int)
    steps_per_epoch: int | None = option(None, "updates per epoch (default: shapeset 20000, else one pass over the data, "
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
    if config.init is not None and config.xavier:
        raise UsageError("--xavier and --init both choose the initializer; pass only one of them")
    if config.hidden_layers is not None and config.five_layer:
        raise UsageError("--five_layer and --hidden_layers both set the depth; pass only one of them")
    return dataclasses.replace(
        config,
        init=config.init or ("normalized" if config.xavier else "standard"),
        hidden_layers=config.hidden_layers or (4 if config.five_layer else 3),
        backend=config.backend or active_backend())


def with_data_defaults(config: GlorotConfig, splits) -> GlorotConfig:
    """Epochs, steps and batch size from the dataset (an array epoch: one pass, the debug cut applied)."""
    streamed = splits.default_steps_per_epoch is not None
    epochs = config.epochs or (DEBUG_EPOCHS if config.debug else splits.default_epochs)
    batch_size = config.batch_size or splits.default_batch_size
    steps = config.steps_per_epoch
    if steps is None and streamed:
        steps = DEBUG_STEPS if config.debug else splits.default_steps_per_epoch
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


def build_model(config: GlorotConfig, input_dim: int, num_classes: int):
    """The feedforward net, compiled as the paper: categorical cross-entropy and plain SGD."""
    import keras

    from models import MODELS

    model = MODELS.build("feedforward", input_dim, num_classes, hidden_layers=config.hidden_layers, units=config.units,
                         activation=config.activation, initializer=config.init, seed=config.seed)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.lr), loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
                  steps_per_execution=config.steps_per_execution)
    return model


def load_data(config: GlorotConfig):
    """The dataset's splits and the config with the dataset's defaults filled in (debug truncation applied)."""
    splits = DATASETS.build(config.dataset, seed=config.seed)
    config = with_data_defaults(config, splits)
    if config.debug and splits.default_steps_per_epoch is None:
        splits = dataclasses.replace(splits, train=splits.train.head(DEBUG_EXAMPLES))
    return config, splits


def train(config: GlorotConfig, splits, *, strategy=None, run_dir=None, start_epoch=0, verbose=None, extra_callbacks=()):
    """Build the model (inside `strategy`'s scope), train (from `start_epoch`'s checkpoint) and evaluate; returns (model, results)."""
    import keras

    from lib import distribute
    from lib.environment import check_backend
    from lib.pipeline import fit_inputs
    from lib.precision import apply_policy
    from lib.training import train_and_evaluate

    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    with distribute.scope(strategy):
        model = build_model(config, int(splits.validation.flat().x.shape[1]), splits.num_classes)
    callbacks = list(extra_callbacks)
    if run_dir is not None and config.record_every > 0:
        callbacks.append(recorder(config, splits, run_dir.path, start_epoch=start_epoch))
    inputs = fit_inputs(splits.train, batch_size=config.batch_size, steps_per_epoch=config.steps_per_epoch,
                        num_classes=splits.num_classes, flat=True, seed=config.seed)
    results = train_and_evaluate(model, inputs, validation=splits.validation.flat(), test=splits.test.flat(),
                                 run=run_dir, config_json=to_json(config), epochs=config.epochs,
                                 start_epoch=start_epoch, check_every_update=False,  # updates of ~3 ms: see the guard
                                 verbose=verbose, callbacks=callbacks)
    return model, results


def recorder(config: GlorotConfig, splits, run_path: str, start_epoch: int = 0):
    """The GradientActivationStore of a run: probe = the first `probe_size` validation examples."""
    from callbacks.gradient_activation_store import GradientActivationStore
    from lib.h5store import RecordWriter

    probe = splits.validation.flat().head(config.probe_size)
    writer = RecordWriter(run_path, config_json=to_json(config), dtype=config.record_dtype,
                          compression=None if config.record_compression == "none" else config.record_compression,
                          resume=start_epoch > 0)
    return GradientActivationStore(writer, probe.x, probe.y, record_every=config.record_every,
                                   weights_every_record=config.record_weights == "all", start_epoch=start_epoch)


def run(config: GlorotConfig, argv: list[str]) -> int:
    from lib import distribute
    from lib.run_dir import check_run_path, open_run

    config = resolve(config)
    path = run_path(config)
    if config.num_gpus > 1 and config.steps_per_execution > 1:
        raise UsageError("--steps_per_execution > 1 does not work under MirroredStrategy (Keras 3.15); drop it with --num_gpus > 1")
    if config.debug and config.resume:
        raise UsageError("--debug runs save nothing, so there is nothing to --resume")
    if not config.debug:
        check_run_path(path, overwrite=config.overwrite, resume=config.resume)
    strategy = distribute.strategy_for_gpus(config.num_gpus)
    config, splits = load_data(config)
    run_dir, start_epoch = (None, 0) if config.debug else open_run(path, config, argv)
    print(f"glorot: {config.activation}, {config.hidden_layers} hidden x {config.units}, init {config.init}, "
          f"{config.dataset}, batch {config.batch_size}, {config.epochs} epochs of {config.steps_per_epoch} steps"
          + (f" -> {path}" if run_dir else " (debug: nothing saved)")
          + (f", resumed after epoch {start_epoch}" if start_epoch else ""), flush=True)
    _, results = train(config, splits, strategy=strategy, run_dir=run_dir, start_epoch=start_epoch)
    print(f"test error {results['test_error_percent']:.2f}% (test loss {results['test_loss']:.4f})", flush=True)
    return 0


DESCRIPTION = "Glorot & Bengio 2010: deep feedforward nets, standard vs normalized init"
STUDIES.add("glorot", Study(GlorotConfig, run, DESCRIPTION, resolve=resolve), summary=DESCRIPTION)
