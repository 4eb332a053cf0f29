"""The constnet study's run: build ConstNet or LeakyNet, train with per-epoch correlations, evaluate.

No Keras at import time: the CLI imports this module only to run.
"""

import dataclasses
import math

from lib.config import to_json
from lib.errors import UsageError
from lib.studies.constnet.config import (
    CHANNEL_NORMALIZATION,
    DATASET_OPTIONS,
    DEBUG_EPOCHS,
    DEBUG_EXAMPLES,
    STREAM_EPOCH_EXAMPLES,
    ConstnetConfig,
    gpu_ids,
    resolve,
    run_path,
)


def normalize_channels(x, mean, std):
    """(x − mean/255) / (std/255) per channel, for pixels x in [0, 1] and mean, std in pixel levels."""
    import numpy as np

    return (x - np.asarray(mean, dtype=np.float32) / 255) / (np.asarray(std, dtype=np.float32) / 255)


def load_data(config: ConstnetConfig):
    """(train, test, num_classes): the training split (a held-out validation part merged back in,
    as the original trains on all 50,000 CIFAR images) and the test split evaluated every epoch;
    CIFAR normalized per channel as the original. --debug keeps the first DEBUG_EXAMPLES of each."""
    import numpy as np

    from lib.datasets import DATASETS
    from lib.datasets.splits import Split

    splits = DATASETS.build(config.dataset, seed=config.seed, **DATASET_OPTIONS[config.dataset])
    train, test = splits.train, splits.test
    if isinstance(train, Split):
        train = Split(np.concatenate([train.x, splits.validation.x]), np.concatenate([train.y, splits.validation.y]))
    if config.dataset in CHANNEL_NORMALIZATION:
        mean, std = CHANNEL_NORMALIZATION[config.dataset]
        train, test = (Split(normalize_channels(s.x, mean, std), s.y) for s in (train, test))
    if config.debug:
        train = train.head(DEBUG_EXAMPLES) if isinstance(train, Split) else train
        test = test.head(DEBUG_EXAMPLES)
    return train, test, splits.num_classes


def steps_per_epoch(config: ConstnetConfig, train) -> int:
    if config.steps_per_epoch is not None:
        return config.steps_per_epoch
    # A stream has no length: an epoch is CIFAR's 50,000 examples (--debug: DEBUG_EXAMPLES).
    examples = len(train) if hasattr(train, "__len__") else DEBUG_EXAMPLES if config.debug else STREAM_EPOCH_EXAMPLES
    return math.ceil(examples / config.batch_size)


def build_model(config: ConstnetConfig, input_shape, num_classes: int, steps: int, *, synchronized_bn: bool = False):
    """The network, compiled as the original: PyTorch's SGD with momentum, the epoch-step schedule, cross-entropy on logits."""
    import keras

    from lib.optimizers.pytorch_sgd import PyTorchSGD
    from lib.studies.constnet.schedules import EpochStepDrops
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
    optimizer = PyTorchSGD(EpochStepDrops(config.lr, steps, config.epochs), momentum=config.momentum,
                           nesterov=config.nesterov)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc"),
                           keras.metrics.CategoricalCrossentropy(from_logits=True, name="ce")])
    return model


def train(config: ConstnetConfig, data, *, strategy=None, run_dir=None, start_epoch=0, verbose=None, extra_callbacks=()):
    """Build (inside `strategy`'s scope), train with per-epoch correlations (from `start_epoch`'s
    checkpoint), evaluate; returns (model, results)."""
    import keras

    from lib.backend import distribute
    from lib.backend.precision import apply_policy
    from lib.datasets.augment import pad_crop_flip
    from lib.datasets.pipeline import fit_inputs
    from lib.distribution.hosts import writes_run_files
    from lib.environment import check_backend
    from lib.runs.training import train_and_evaluate

    train_split, test, num_classes = data
    steps = steps_per_epoch(config, train_split)
    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    with distribute.scope(strategy):
        model = build_model(config, test.x.shape[1:], num_classes, steps,
                            synchronized_bn=distribute.synchronized_batch_norm(strategy))
    callbacks = list(extra_callbacks)
    if run_dir is not None and writes_run_files():  # several hosts: process 0 measures, on its copy of the weights
        callbacks += run_callbacks(config, model, test, run_dir, start_epoch)
    inputs = fit_inputs(train_split, batch_size=config.batch_size, steps_per_epoch=steps, num_classes=num_classes,
                        flat=False, seed=config.seed, augment=None if config.no_augment else pad_crop_flip)
    results = train_and_evaluate(model, inputs, validation=test, test=None, run=run_dir, config_json=to_json(config),
                                 epochs=config.epochs, start_epoch=start_epoch, validation_is_test=True,
                                 callbacks=callbacks, verbose=verbose)
    return model, results


def run_callbacks(config: ConstnetConfig, model, test, run_dir, start_epoch: int = 0) -> list:
    """Correlations at init and after every epoch; --hessian_every's sharpness; Keras weight files (last,
    best) unless --no-saves."""
    from callbacks.best_weights import BestValidationWeights
    from callbacks.epoch_monitor import EpochMonitor
    from callbacks.weight_files import LatestWeights
    from lib.storage.epoch_table import read_epoch_table
    from lib.studies.constnet.meter import CorrelationMeter
    from lib.studies.constnet.writers import CorrelationScalars, CorrelationTable

    probe = test.x[:config.probe_size]
    table = CorrelationTable(run_dir.file("correlations.h5"), to_json(config), resume=start_epoch > 0)
    callbacks = [EpochMonitor(
        lambda model: CorrelationMeter(model, probe, max_rows=config.correlation_rows, seed=config.seed),
        table, CorrelationScalars(run_dir.file("tb")), start_epoch=start_epoch)]
    if config.hessian_every > 0:
        from lib.hessian.monitor import hessian_monitor
        from lib.hessian.subject import compiled_loss

        callbacks.append(hessian_monitor(config, compiled_loss(model), test, run_dir, to_json(config), start_epoch))
    if not config.no_saves:
        best_so_far = float(max(read_epoch_table(run_dir.file("history.h5"))["val_acc"])) if start_epoch else -math.inf
        callbacks += [LatestWeights(run_dir.file("checkpoints/last.weights.h5")),
                      BestValidationWeights(run_dir.file("checkpoints/best.weights.h5"), best=best_so_far)]
    return callbacks


def run(config: ConstnetConfig, argv: list[str]) -> int:
    from lib.backend import distribute
    from lib.backend.determinism import enable_deterministic_ops
    from lib.distribution import hosts
    from lib.distribution.run_files import check_run_path_on_hosts, open_run_on_hosts

    config = resolve(config)
    if config.debug:  # the schedule then drops the rate at the same fractions of the short run
        config = dataclasses.replace(config, epochs=DEBUG_EPOCHS)
    path = run_path(config)
    if (len(gpu_ids(config.device)) > 1 or config.num_hosts > 1) and config.hessian_every > 0:
        raise UsageError("--hessian_every runs on one device; pass one -d GPU and one host (or analyse the run "
                         "afterwards with experiment.py hessian)")
    joined = hosts.join(config)  # several hosts: before JAX computes anything (None on one host)
    if not config.debug:
        check_run_path_on_hosts(path, overwrite=config.overwrite, resume=config.resume)
    if config.deterministic:
        enable_deterministic_ops()
    strategy = joined or distribute.strategy_for_gpu_ids(gpu_ids(config.device))
    data = load_data(config)
    run_dir, start_epoch = (None, 0) if config.debug else open_run_on_hosts(path, config, argv)
    kind = "ConstNet" if config.arch == "constnet" else f"LeakyNet --init {config.init} alpha {config.lrelu}"
    print(f"constnet: {kind} WRN-{config.layers}-{config.widen_factor}, {config.dataset}, batch {config.batch_size}, "
          f"{config.epochs} epochs of {steps_per_epoch(config, data[0])} steps"
          + (f" -> {path}" if run_dir else f" on the first {DEBUG_EXAMPLES} images (debug: nothing saved)")
          + (f", resumed after epoch {start_epoch}" if start_epoch else ""), flush=True)
    _, results = train(config, data, strategy=strategy, run_dir=run_dir, start_epoch=start_epoch)
    print(f"best test accuracy {100 * results['best_test_acc']:.2f}%, final {100 * results['final_test_acc']:.2f}%",
          flush=True)
    return 0

