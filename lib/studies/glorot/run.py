"""The glorot study's run: build the feedforward net, train it with the recorder, evaluate.

No Keras at import time: the CLI imports this module only to run.
"""

import dataclasses

from lib.config import to_json
from lib.datasets import DATASETS
from lib.datasets.splits import Split
from lib.errors import UsageError
from lib.studies.glorot.config import DEBUG_EXAMPLES, GlorotConfig, resolve, run_path, with_data_defaults


def build_model(config: GlorotConfig, input_dim: int, num_classes: int):
    """The feedforward net, compiled as the paper: categorical cross-entropy and plain SGD."""
    import keras

    from models import MODELS

    model = MODELS.build("feedforward", (input_dim,), num_classes, hidden_layers=config.hidden_layers, units=config.units,
                         activation=config.activation, initializer=config.init, seed=config.seed)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.lr), loss="categorical_crossentropy",
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc")],
                  steps_per_execution=config.steps_per_execution)
    return model


def load_data(config: GlorotConfig):
    """The dataset's splits and the config with the dataset's defaults filled in (debug truncation applied)."""
    splits = DATASETS.build(config.dataset, seed=config.seed)
    config = with_data_defaults(config, splits)
    if config.debug and isinstance(splits.train, Split):
        splits = dataclasses.replace(splits, train=splits.train.head(DEBUG_EXAMPLES))
    return config, splits


def train(config: GlorotConfig, splits, *, strategy=None, run_dir=None, start_epoch=0, verbose=None, extra_callbacks=()):
    """Build the model (inside `strategy`'s scope), train (from `start_epoch`'s checkpoint) and evaluate; returns (model, results)."""
    import keras

    from lib.backend import distribute
    from lib.backend.precision import apply_policy
    from lib.datasets.pipeline import fit_inputs
    from lib.distribution.hosts import writes_run_files
    from lib.environment import check_backend
    from lib.runs.training import train_and_evaluate

    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    keras.utils.set_random_seed(config.seed)
    with distribute.scope(strategy):
        model = build_model(config, int(splits.validation.flat().x.shape[1]), splits.num_classes)
    callbacks = list(extra_callbacks)
    writes = run_dir is not None and writes_run_files()  # several hosts: process 0 records, on its copy of the weights
    if writes and config.record_every > 0:
        callbacks.append(recorder(config, splits, run_dir.path, start_epoch=start_epoch))
    if writes and config.hessian_every > 0:
        from lib.hessian.monitor import hessian_monitor
        from lib.hessian.subject import compiled_loss

        callbacks.append(hessian_monitor(config, compiled_loss(model), splits.test.flat(), run_dir, to_json(config),
                                         start_epoch))
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
    from lib.backend.probe_record import ProbeRecord
    from lib.storage.records import RecordWriter

    probe = splits.validation.flat().head(config.probe_size)
    writer = RecordWriter(run_path, ProbeRecord.KINDS, config_json=to_json(config), dtype=config.record_dtype,
                          compression=None if config.record_compression == "none" else config.record_compression,
                          resume=start_epoch > 0)
    return GradientActivationStore(writer, probe.x, probe.y, record_every=config.record_every,
                                   weights_every_record=config.record_weights == "all", start_epoch=start_epoch)


def run(config: GlorotConfig, argv: list[str]) -> int:
    from lib.backend import distribute
    from lib.distribution import hosts
    from lib.distribution.run_files import check_run_path_on_hosts, open_run_on_hosts

    config = resolve(config)
    path = run_path(config)
    if config.num_gpus > 1 and config.steps_per_execution > 1:
        raise UsageError("--steps_per_execution > 1 does not work under MirroredStrategy (Keras 3.15); drop it with --num_gpus > 1")
    if config.num_hosts > 1 and config.steps_per_execution > 1:
        raise UsageError("--steps_per_execution > 1 is untested on several hosts; drop it with --num_hosts > 1")
    if (config.num_gpus > 1 or config.num_hosts > 1) and config.hessian_every > 0:
        raise UsageError("--hessian_every runs on one device; drop it with --num_gpus or --num_hosts > 1 (or analyse "
                         "the run afterwards with experiment.py hessian)")
    if config.debug and config.resume:
        raise UsageError("--debug runs save nothing, so there is nothing to --resume")
    joined = hosts.join(config)  # several hosts: before JAX computes anything (None on one host)
    if not config.debug:
        check_run_path_on_hosts(path, overwrite=config.overwrite, resume=config.resume)
    strategy = joined or distribute.strategy_for_gpus(config.num_gpus)
    config, splits = load_data(config)
    run_dir, start_epoch = (None, 0) if config.debug else open_run_on_hosts(path, config, argv)
    print(f"glorot: {config.activation}, {config.hidden_layers} hidden x {config.units}, init {config.init}, "
          f"{config.dataset}, batch {config.batch_size}, {config.epochs} epochs of {config.steps_per_epoch} steps"
          + (f" -> {path}" if run_dir else " (debug: nothing saved)")
          + (f", resumed after epoch {start_epoch}" if start_epoch else ""), flush=True)
    _, results = train(config, splits, strategy=strategy, run_dir=run_dir, start_epoch=start_epoch)
    print(f"test error {results['test_error_percent']:.2f}% (test loss {results['test_loss']:.4f})", flush=True)
    return 0

