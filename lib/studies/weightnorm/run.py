"""The weightnorm study's run: weightnorm-init's train.py (reference/weightnorm_abc.md §A1-§A4) on initlab's runner.

Data: the dataset's whole training set (initlab's own validation part merged back), split at random
by --seed into training and --val_fraction validation examples; MNIST x − 0.5, CIFAR normalized per
channel with the original's mean and std, crop + flip (+ Cutout) on CIFAR training batches. Model: the
study's network (models/weightnorm_nets.py), its data-dependent init on the first training batch
for *_datadep. SGD in PyTorch's form with the annealing + warmup schedule, gradient accumulation for
--mini_batch_size, L2 weight decay in the layers. At the end the best-validation weights are
evaluated on test (also for a diverged run, as the original does).

No Keras at import time: the CLI imports this module only to run.
"""

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np

from lib.config import to_json
from lib.datasets.splits import Split, hold_out
from lib.studies.weightnorm.config import (
    CIFAR,
    DEBUG_EPOCHS,
    DEBUG_EXAMPLES,
    HANIN,
    WeightnormConfig,
    network_shape,
    resolve,
    run_path,
)

# §A2's preprocessing, for pixels in [0, 1]: MNIST Normalize(0.5, 1.0); CIFAR per channel. The offline
# datasets are used as their loaders give them: digits standardized, mnist1d as the mnist1d package makes it.
MNIST_SHIFT = 0.5
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
UNIT_PIXELS = ("mnist", *CIFAR)  # loaded as pixels / 255, then normalized here
HESSIAN_ITERATIONS = 40  # §A1 --hessian: power iteration, M = 40
HESSIAN_BATCH_FRACTION = 0.1  # "averaged over the first 10% of the training batches"
HESSIAN_RESULTS = "hessian_init.json"


@dataclass(frozen=True)
class WeightnormData:
    train: Split
    validation: Split
    test: Split
    num_classes: int


def preprocess(dataset: str, x: np.ndarray) -> np.ndarray:
    if dataset == "mnist":
        return x - np.float32(MNIST_SHIFT)
    if dataset in CIFAR:
        return (x - np.asarray(CIFAR_MEAN, dtype=np.float32)) / np.asarray(CIFAR_STD, dtype=np.float32)
    return x


def validation_split(examples: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """(train, validation): `fraction` of the examples, at least one, drawn at random by `seed`
    (the original's torch random_split of the training set)."""
    count = len(examples)
    return hold_out(examples, min(max(1, int(count * fraction)), count - 1), seed)


def load_data(config: WeightnormConfig) -> WeightnormData:
    from lib.datasets import DATASETS

    options = {"normalization": "unit"} if config.dataset in UNIT_PIXELS else {}
    splits = DATASETS.build(config.dataset, seed=config.seed, **options)
    pool = Split(np.concatenate([splits.train.x, splits.validation.x]),
                 np.concatenate([splits.train.y, splits.validation.y]))
    pool = Split(preprocess(config.dataset, pool.x), pool.y)
    train, validation = validation_split(pool, config.val_fraction, config.seed)
    test = Split(preprocess(config.dataset, splits.test.x), splits.test.y)
    if config.debug:
        train, validation, test = (split.head(DEBUG_EXAMPLES) for split in (train, validation, test))
    return WeightnormData(train, validation, test, splits.num_classes)


def steps_per_epoch(config: WeightnormConfig, train: Split) -> int:
    """Loader batches (of --mini_batch_size) per epoch, the last one partial as PyTorch's DataLoader
    would make it; initlab's stream keeps every batch full instead, wrapping into the next pass."""
    return math.ceil(len(train) / config.mini_batch_size)


def network_options(config: WeightnormConfig) -> dict:
    """The MODELS entry and its arguments for --nn and its size flags."""
    sizes = {"mlp": dict(hidden_size=config.hidden_size, num_layers=config.num_layers),
             "cnn": dict(hidden_size=config.hidden_size, num_layers=config.num_layers),
             "resnet": dict(hidden_size=config.hidden_size, num_blocks=config.num_blocks, batch_norm=config.batch_norm),
             "wrn": dict(wrn_n=config.wrn_n, wrn_k=config.wrn_k, reduced_memory=config.wrn_reduced_memory,
                         batch_norm=config.batch_norm)}[config.nn]
    return dict(name=f"wn_{config.nn}", init=config.init, weight_norm=config.weight_norm,
                hanin=config.init_extra_param == HANIN, weight_decay=config.weight_decay, seed=config.seed, **sizes)


def schedule(config: WeightnormConfig, steps: int):
    from lib.studies.weightnorm.schedules import AnnealingWithWarmup

    return AnnealingWithWarmup(config.lr, steps, config.num_epochs, config.lr_annealing_type,
                               warmup_epochs=config.warmup_epochs, warmup_lr=config.warmup_lr)


def build_model(config: WeightnormConfig, input_shape, num_classes: int, steps: int):
    """The network compiled as train.py trains it: SGD (PyTorch's momentum form), cross-entropy on the
    logits; --mini_batch_size averages batch_size / mini_batch_size loader batches per update."""
    import keras

    from lib.optimizers.pytorch_sgd import PyTorchSGD
    from models import MODELS

    options = network_options(config)
    model = MODELS.build(options.pop("name"), tuple(input_shape), num_classes, **options)
    accumulation = config.batch_size // config.mini_batch_size
    optimizer = PyTorchSGD(schedule(config, steps), momentum=config.momentum,
                           gradient_accumulation_steps=accumulation if accumulation > 1 else None)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc")])
    return model


def initial_model(config: WeightnormConfig, data: WeightnormData, inputs: dict):
    """The model at initialization, as a run starts from it: seeded, built, and for *_datadep initialized
    on the first training batch of `inputs` (lib.datasets.pipeline.fit_inputs: batch 0 of the stream)."""
    import keras

    from lib.studies.weightnorm.data_dependent import data_dependent_init

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, data.train.x.shape[1:], data.num_classes, inputs["steps_per_epoch"])
    if config.init.endswith("_datadep"):
        first_batch, _ = inputs["x"][0]
        data_dependent_init(model, first_batch)
    return model


def fit_inputs(config: WeightnormConfig, data: WeightnormData) -> dict:
    """model.fit's inputs: loader batches of --mini_batch_size in a seeded order, augmented on CIFAR."""
    from lib.datasets import augment, pipeline

    augmentation = None
    if config.dataset in CIFAR:
        def augmentation(images, rng):
            images = augment.pad_crop_flip(images, rng, pad=4)
            return augment.cutout(images, rng) if config.cutout else images
    return pipeline.fit_inputs(data.train, batch_size=config.mini_batch_size, steps_per_epoch=steps_per_epoch(
        config, data.train), num_classes=data.num_classes, flat=False, seed=config.seed, augment=augmentation)


def run_callbacks(config: WeightnormConfig, steps: int) -> list:
    from callbacks.learning_rate_log import EpochLearningRate

    callbacks = [EpochLearningRate(schedule(config, steps), steps)]
    if config.log_every_iter:
        from callbacks.update_log import UpdateLossLog

        callbacks.append(UpdateLossLog(steps))
    return callbacks


def train(config: WeightnormConfig, data: WeightnormData, *, run_dir=None, start_epoch: int = 0, verbose=None) -> dict:
    """Build (or, from `start_epoch`, resume), train, and test the best-validation weights; returns the results."""
    from lib.backend.precision import apply_policy
    from lib.environment import check_backend
    from lib.runs.training import train_and_evaluate

    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    inputs = fit_inputs(config, data)
    model = initial_model(config, data, inputs)
    return train_and_evaluate(model, inputs, validation=data.validation, test=data.test, run=run_dir,
                              config_json=to_json(config), epochs=config.num_epochs, start_epoch=start_epoch,
                              test_on_best=True, callbacks=run_callbacks(config, inputs["steps_per_epoch"]),
                              verbose=verbose)


def hessian_batches(config: WeightnormConfig, data: WeightnormData) -> Split:
    """The examples of the first 10% of the training batches (at least one batch of --batch_size), in the
    run's batch order, without augmentation."""
    from lib.datasets.pipeline import ArrayStream

    batches = max(1, math.ceil(HESSIAN_BATCH_FRACTION * math.ceil(len(data.train) / config.batch_size)))
    count = min(batches * config.batch_size, len(data.train))
    x, labels = ArrayStream(data.train, config.seed).examples(0, count)
    return Split(x, np.eye(data.num_classes, dtype=np.float32)[labels])


def measure_hessian(config: WeightnormConfig, data: WeightnormData) -> dict:
    """§A1 --hessian: the top Hessian eigenvalue (largest magnitude) of the training loss at initialization,
    by 40 power iterations from a N(0, I) start, each Hessian-vector product averaged over the first 10% of
    the training batches (lib.hessian; the loss without weight decay, as the original's)."""
    import keras

    from lib.backend.hessian_vector import HessianVectorProduct
    from lib.hessian import spectrum
    from lib.hessian.command import Progress
    from lib.hessian.subject import batches, compiled_loss

    model = initial_model(config, data, fit_inputs(config, data))
    examples = hessian_batches(config, data)
    hvp = HessianVectorProduct(model, compiled_loss(model), batches(examples, config.batch_size))
    started = time.perf_counter()
    progress = Progress()
    # tolerance 0: every one of the 40 iterations runs, as the original's loop
    top = spectrum.top_eigenvalues(hvp, hvp.parameters.size, k=1, max_iterations=HESSIAN_ITERATIONS, tolerance=0.0,
                                   seed=config.seed, progress=progress)
    progress.done()
    value = float(top.values[0])
    return {"hessian_top_eigenvalue": value, "log_spectral_norm": math.log(abs(value)),
            "power_iteration_value": float(top.power_values[0]), "iterations": int(top.iterations[0]),
            "examples": len(examples), "batch_size": config.batch_size, "parameters": int(hvp.parameters.size),
            "backend": keras.backend.backend(), "seconds": time.perf_counter() - started}


def run(config: WeightnormConfig, argv: list[str]) -> int:
    from lib.backend.determinism import enable_deterministic_ops
    from lib.runs.run_dir import check_run_path, open_run

    config = resolve(config)
    if config.debug:
        config = dataclasses.replace(config, num_epochs=DEBUG_EPOCHS)
    path = run_path(config)
    if not config.debug:
        check_run_path(path, overwrite=config.overwrite, resume=config.resume)
    if config.cudnn_deterministic:
        enable_deterministic_ops()
    data = load_data(config)
    run_dir, start_epoch = (None, 0) if config.debug else open_run(path, config, argv)
    init = config.init + (f" ({HANIN})" if config.init_extra_param == HANIN else "")
    norm = ("WN" if config.weight_norm else "no WN") + (" + BN" if config.batch_norm else "")
    where = f" -> {path}" if run_dir else f" on the first {DEBUG_EXAMPLES} examples (debug: nothing saved)"
    if config.hessian:
        print(f"weightnorm --hessian: {network_shape(config)}, {norm}, init {init}, {config.dataset}{where}", flush=True)
        try:
            results = measure_hessian(config, data)
        except BaseException as error:
            if run_dir is not None:
                run_dir.set_stopped(error, last_epoch=0)
            raise
        print(f"top Hessian eigenvalue at initialization {results['hessian_top_eigenvalue']:.6g} "
              f"(log spectral norm {results['log_spectral_norm']:.3f}), {results['examples']} training examples, "
              f"{results['seconds']:.1f} s", flush=True)
        if run_dir is not None:
            run_dir.write_json(HESSIAN_RESULTS, results)
            run_dir.write_json("results.json", results)
            run_dir.set_status("done", last_epoch=0)
        return 0
    accumulation = f" in mini-batches of {config.mini_batch_size}" if config.mini_batch_size < config.batch_size else ""
    print(f"weightnorm: {network_shape(config)}, {norm}, init {init}, {config.dataset} ({len(data.train)} train / "
          f"{len(data.validation)} validation), batch {config.batch_size}{accumulation}, lr {config.lr}, "
          f"{config.num_epochs} epochs{where}" + (f", resumed after epoch {start_epoch}" if start_epoch else ""),
          flush=True)
    results = train(config, data, run_dir=run_dir, start_epoch=start_epoch)
    if run_dir is None:  # --debug keeps no best weights: its test score is the final weights'
        print(f"best validation accuracy {100 * results['best_val_acc']:.2f}%, final weights' test accuracy "
              f"{100 * results['test_acc']:.2f}%", flush=True)
    else:
        print(f"best validation accuracy {100 * results['best_val_acc']:.2f}% (epoch {results['best_epoch']}), "
              f"its test accuracy {100 * results['test_acc']:.2f}%", flush=True)
    return 0
