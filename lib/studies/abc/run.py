"""The abc study's run: wide-networks' ABCRunner (reference/weightnorm_abc.md §B5) on initlab's runner.

Trials: `--n_trials` seeds drawn as the runner draws them (config.trial_seeds), each trial its own run
directory `<run path>/trial_<i>`; a trial whose status is done is skipped (the original skips a trial whose
directory exists), so rerunning a command adds only the missing trials. `--resume` continues the
unfinished ones, `--overwrite` replaces them all. At the end `<run path>/results.csv` holds each trial's
best-validation test accuracy and their mean ± std. `<run path>/config.json` is the configuration of the
latest command (the trials' own config.json as a new trial gets it), so `experiment.py resume <run path>`
continues every unfinished trial and `experiment.py analyze <run path>` finds the study.

Data: the dataset's training examples (initlab's validation part merged back), of which a seeded 10,000
(MNIST, CIFAR-10; the 1-num-exp branch's 50k/10k and 40k/10k split, seed --seed) or one sixth (offline
datasets) are the validation set (master validates on the training set itself: a bug, §B5); flattened,
CIFAR-10 in grayscale unless --rgb, normalized as the original (config.NORMALIZATION).

Steps and epochs: the original trains for min(n_steps, n_epochs passes) SGD steps, validating after each
pass over the training data. Here an "epoch" is one pass, ceil(N / batch size) batches of the seeded
stream (every batch full, wrapping into the next pass), and the last epoch stops after the n_steps-th step,
so exactly min(n_steps, n_epochs · ceil(N / batch size)) steps are taken, each epoch validated.

No Keras at import time: the CLI imports this module only to run.
"""

import csv
import dataclasses
import io
import json
import math
import os
from dataclasses import dataclass

import numpy as np

from lib.config import to_json
from lib.datasets.splits import Split, hold_out
from lib.errors import UsageError
from lib.storage import atomic
from lib.studies.abc.config import (
    DEBUG_EXAMPLES,
    DEBUG_STEPS,
    NORMALIZATION,
    NUM_CLASSES,
    AbcConfig,
    model_config,
    resolve,
    run_path,
    trial_seeds,
)
from lib.studies.abc.trials import RESULTS, trial_dir, trial_state

VALIDATION_SIZE = {"mnist": 10_000, "cifar10": 10_000}  # the 1-num-exp branch's train/val split
OFFLINE_VALIDATION_FRACTION = 1 / 6  # MNIST's 10k of 60k, for the offline datasets
GRAYSCALE = (0.299, 0.587, 0.114)  # torchvision's Grayscale (ITU-R 601-2 luma)
TRIAL_FILE = "trial.json"


@dataclass(frozen=True)
class AbcData:
    train: Split
    validation: Split
    test: Split


def preprocess(config: AbcConfig, x: np.ndarray) -> np.ndarray:
    """Flattened, grayscale CIFAR-10 unless --rgb, normalized with the original's (mean, std)."""
    if config.dataset == "cifar10" and not config.rgb:
        x = x @ np.asarray(GRAYSCALE, dtype=np.float32)
    x = x.reshape(len(x), -1).astype(np.float32)
    key = "cifar10_rgb" if config.rgb else config.dataset
    if key in NORMALIZATION:
        mean, std = NORMALIZATION[key]
        x = (x - np.float32(mean)) / np.float32(std)
    return x


def load_data(config: AbcConfig) -> AbcData:
    from lib.datasets import DATASETS

    options = {"normalization": "unit"} if config.dataset in VALIDATION_SIZE else {}
    splits = DATASETS.build(config.dataset, seed=config.seed, **options)
    pool = Split(preprocess(config, np.concatenate([splits.train.x, splits.validation.x])),
                 np.concatenate([splits.train.y, splits.validation.y]))
    held_out = VALIDATION_SIZE.get(config.dataset) or max(1, int(len(pool) * OFFLINE_VALIDATION_FRACTION))
    train, validation = hold_out(pool, held_out, config.seed)
    test = Split(preprocess(config, splits.test.x), splits.test.y)
    if config.debug:
        train, validation, test = (split.head(DEBUG_EXAMPLES) for split in (train, validation, test))
    return AbcData(train, validation, test)


def schedule(config: AbcConfig, train_examples: int) -> tuple[int, int, int]:
    """(total steps, steps per epoch, epochs): min(n_steps, n_epochs passes) steps, an epoch one pass."""
    per_pass = math.ceil(train_examples / config.batch_size)
    total = DEBUG_STEPS if config.debug else min(config.n_steps, model_config(config).training.n_epochs * per_pass)
    steps = min(per_pass, total)
    return total, steps, math.ceil(total / steps)


def inner_optimizer(config: AbcConfig):
    """The yaml's optimizer (PyTorch's parameters) at the base learning rate."""
    import keras

    optimizer = model_config(config).optimizer
    params = optimizer.params
    if optimizer.name == "sgd":
        return keras.optimizers.SGD(params["lr"], momentum=params["momentum"], nesterov=params["nesterov"])
    if optimizer.name == "adam":
        return keras.optimizers.Adam(params["lr"], beta_1=params["beta1"], beta_2=params["beta2"], epsilon=params["eps"])
    return keras.optimizers.RMSprop(params["lr"], rho=params["alpha"], momentum=params["momentum"],
                                    epsilon=params["eps"], centered=params["centered"])


def network(config: AbcConfig):
    """(MODELS arguments, Parameterization) of the effective model configuration."""
    from lib.studies.abc.parameterizations import parameterization

    model = model_config(config)
    n_warmup_steps = model.scheduler.params["n_warmup_steps"] if model.scheduler else 1
    options = dict(parameterization=config.parameterization, width=config.width, n_layers=config.n_layers,
                   activation=config.activation, bias=model.architecture.bias,
                   init_mean=model.initializer.params["mean"], n_warmup_steps=n_warmup_steps,
                   scale_bias_lr=model.architecture.scale_bias_lr, activation_params=model.activation.params)
    p = parameterization(config.parameterization, config.n_layers, activation=config.activation,
                         n_warmup_steps=n_warmup_steps, init_mean=options["init_mean"],
                         scale_bias_lr=options["scale_bias_lr"])
    return options, p


def build_model(config: AbcConfig, data: AbcData, inputs: dict, seed: int):
    """The abc network of trial `seed`, compiled: ScaledLearningRate around the yaml's optimizer with the
    layers' m^{−c} scales (IP-LLR: the warm-up scales first, their base rates calibrated on the first two
    training batches when the scheduler says calibrate_base_lr), cross-entropy on the logits.
    Returns (model, learning_rates(step) -> {group: rate})."""
    import keras

    from lib.optimizers.scaled_lr import ScaledLearningRate
    from lib.studies.abc.calibration import calibrate_base_lrs, calibrated_warmup_scales
    from lib.studies.abc.steps import group_learning_rates, likelihood, step_metrics
    from models import MODELS
    from models.abc_mlp import lr_scales

    keras.utils.set_random_seed(seed)
    options, p = network(config)
    model = MODELS.build("abc_mlp", data.train.x.shape[1:], NUM_CLASSES, seed=seed, **options)
    spec = model_config(config)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, reduction="sum" if spec.loss.params["reduction"] ==
                                                "sum" else "sum_over_batch_size")
    scales = lr_scales(model)
    warmup_scales = lr_scales(model, warmup=True) if p.has_warmup else None
    if p.has_warmup and spec.scheduler is not None and spec.scheduler.params["calibrate_base_lr"]:
        base_lrs = calibrate_base_lrs(model, (inputs["x"][0], inputs["x"][1]), config.base_lr, loss=loss)
        warmup_scales = calibrated_warmup_scales(model, p, base_lrs, config.base_lr)
    n_warmup = p.n_warmup_steps if p.has_warmup else 0
    optimizer = ScaledLearningRate(inner_optimizer(config), scales, warmup_scales=warmup_scales, n_warmup_steps=n_warmup)
    model.compile(optimizer=optimizer, loss=loss,
                  metrics=[keras.metrics.CategoricalAccuracy(name="acc"),
                           keras.metrics.MeanMetricWrapper(likelihood, name="likelihood"), *step_metrics()])

    def learning_rates(step: int) -> dict:
        return group_learning_rates(model, config.base_lr, scales, warmup_scales, n_warmup, step)

    return model, learning_rates


def stop_after(total: int, start_step: int):
    """A callback that stops fit after step `total` (the last epoch may be cut short)."""
    import keras

    class StopAfterSteps(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.step = start_step

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            if self.step >= total:
                self.model.stop_training = True

    return StopAfterSteps()


def train_trial(config: AbcConfig, data: AbcData, seed: int, *, run_dir=None, start_epoch: int = 0,
                verbose=None) -> dict:
    """One trial: build (or resume), train, test the best-validation weights; returns the results."""
    from lib.backend.precision import apply_policy
    from lib.datasets import pipeline
    from lib.environment import check_backend
    from lib.runs.training import train_and_evaluate
    from lib.studies.abc.steps import StepLog

    check_backend(config.backend)
    apply_policy(config.mixed_precision)
    total, steps, epochs = schedule(config, len(data.train))
    inputs = pipeline.fit_inputs(data.train, batch_size=config.batch_size, steps_per_epoch=steps,
                                 num_classes=NUM_CLASSES, flat=True, seed=seed)
    model, learning_rates = build_model(config, data, inputs, seed)
    callbacks = [stop_after(total, start_epoch * steps)]
    log = None
    if run_dir is not None:
        log = StepLog(run_dir.path, learning_rates, steps_per_epoch=steps, start_epoch=start_epoch,
                      config_json=to_json(config))
        callbacks.append(log)
    results = train_and_evaluate(model, inputs, validation=data.validation, test=data.test, run=run_dir,
                                 config_json=to_json(config), epochs=epochs, start_epoch=start_epoch, test_on_best=True,
                                 callbacks=callbacks, verbose=verbose)
    if log is not None:
        log.write_test(results)
        log.close()
    return {**results, "steps": total}


def plan_trials(config: AbcConfig, path: str) -> list[tuple[int, int, str]]:
    """(trial, seed, action) per trial, action one of skip (done or diverged: a result), new, resume, overwrite;
    refuses before any work a trial left unfinished without --resume or --overwrite, and trials of another
    configuration (the run name leaves out, e.g., -N) without --overwrite."""
    if not config.overwrite:
        check_same_configuration(config, path)
    plan = []
    for trial, seed in enumerate(trial_seeds(config)):
        where = trial_dir(path, trial)
        state = trial_state(where) if os.path.exists(where) else None
        if not os.path.exists(where):
            action = "new"
        elif config.overwrite:
            action = "overwrite"
        elif state in ("done", "diverged"):
            action = "skip"
        elif config.resume:
            action = "resume"
        else:
            raise UsageError(f"{where} holds an unfinished trial ({state or 'no status'}); pass --resume to continue it "
                             "or --overwrite to replace every trial")
        plan.append((trial, seed, action))
    if config.resume and not any(action == "resume" for _, _, action in plan) and not os.path.isdir(path):
        raise UsageError(f"nothing to resume: {path} does not exist; start the run without --resume")
    return plan


def check_same_configuration(config: AbcConfig, path: str) -> None:
    """Trials kept beside new ones must have been trained as the new ones will be: --n_trials may change."""
    from lib.runs.resume import differing_fields

    try:
        with open(os.path.join(path, "config.json")) as f:
            saved = json.load(f)
    except (OSError, ValueError):
        return  # no run yet (or one whose trials each record their own configuration)
    current = json.loads(to_json(config))
    defaults = {field.name: field.default for field in dataclasses.fields(config)}
    # the effective model as dotted keys, so a difference names the key (model.training.n_steps), not the whole file
    saved, current = (_dotted(values) for values in (saved, current))
    differences = [d for d in differing_fields(saved, current, defaults) if not d.startswith("n_trials ")]
    if differences:
        raise UsageError(f"{path} holds trials of another configuration ({'; '.join(differences)}); pass --name for "
                         "a run of its own, or --overwrite to replace them")


def _dotted(values: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value:
            flat.update(_dotted(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def trial_config(config: AbcConfig, where: str, action: str) -> AbcConfig:
    """The config a trial's directory records: --resume / --overwrite as its action, and, resumed, the
    --n_trials it was started with (adding trials changes nothing a trial computes)."""
    if action == "resume":
        with open(os.path.join(where, "config.json")) as f:
            saved = json.load(f)
        return dataclasses.replace(config, resume=True, overwrite=False, n_trials=saved.get("n_trials", config.n_trials))
    return dataclasses.replace(config, resume=False, overwrite=action == "overwrite")


def read_trial_results(path: str, trial: int) -> dict:
    try:
        with open(os.path.join(trial_dir(path, trial), "results.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_results_table(path: str, config: AbcConfig) -> tuple[list[float], str]:
    """results.csv: each trial's seed, state, best epoch, best validation and test accuracy, then mean and std
    of the test accuracies; results.json: those means (test_acc, test_acc_std, best_val_acc over the trials
    tested); returns (test accuracies, the printed summary)."""
    rows, accuracies, validation = [], [], []
    for trial, seed in enumerate(trial_seeds(config)):
        results = read_trial_results(path, trial)
        test_acc = results.get("test_acc")
        if test_acc is not None:
            accuracies.append(float(test_acc))
            validation.append(float(results["best_val_acc"]))
        rows.append([trial, seed, trial_state(trial_dir(path, trial)) or "", results.get("best_epoch", ""),
                     results.get("best_val_acc", ""), "" if test_acc is None else test_acc])
    mean = float(np.mean(accuracies)) if accuracies else float("nan")
    std = float(np.std(accuracies)) if accuracies else float("nan")
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["trial", "seed", "state", "best_epoch", "best_val_acc", "test_acc"])
    writer.writerows(rows)
    writer.writerow(["mean", "", "", "", "", mean])
    writer.writerow(["std", "", "", "", "", std])
    # the run path's results.json: the trials' means, for a sweep's table (lib.sweeps.table); results.csv, the
    # run's last file, after it
    states = [trial_state(trial_dir(path, trial)) for trial in range(config.n_trials)]
    atomic.write_text(os.path.join(path, "results.json"), json.dumps({
        "trials": config.n_trials, "trials_tested": len(accuracies), "diverged_trials": states.count("diverged"),
        "test_acc": mean if accuracies else None, "test_acc_std": std if accuracies else None,
        "best_val_acc": float(np.mean(validation)) if validation else None}, indent=2, sort_keys=True) + "\n")
    atomic.write_text(os.path.join(path, RESULTS), text.getvalue())
    summary = (f"test accuracy {100 * mean:.2f} ± {100 * std:.2f}% over {len(accuracies)} of {len(rows)} trials "
               f"(best-validation weights) -> {os.path.join(path, RESULTS)}")
    return accuracies, summary


def describe(config: AbcConfig, data: AbcData) -> str:
    total, steps, epochs = schedule(config, len(data.train))
    model = model_config(config)
    return (f"abc: {config.parameterization}, L={config.n_layers - 1} m={config.width} {config.activation}, "
            f"{model.optimizer.name} lr {config.base_lr:g}, batch {config.batch_size}, {config.dataset}"
            f"{' (rgb)' if config.rgb else ''} ({len(data.train)} train / {len(data.validation)} validation), "
            f"{total} steps ({epochs} epochs of {steps})")


def run(config: AbcConfig, argv: list[str]) -> int:
    from lib.runs.run_dir import lock_directory, unlock_directory

    config = resolve(config)
    path = run_path(config)
    if config.debug:
        data = load_data(config)
        seed = trial_seeds(config)[0]
        print(f"{describe(config, data)}, trial 0 (seed {seed}) on the first {DEBUG_EXAMPLES} examples "
              "(debug: nothing saved)", flush=True)
        results = train_trial(config, data, seed)
        print(f"final weights' test accuracy {100 * results['test_acc']:.2f}%", flush=True)
        return 0
    # one writer per run path too (lib.runs.run_dir): each trial takes its own lock, and this one keeps a
    # second command off config.json, results.csv and the trials not yet started
    lock = lock_directory(path) if os.path.isdir(path) else None
    try:
        plan = plan_trials(config, path)
        data = load_data(config)
        if lock is None:
            os.makedirs(path, exist_ok=True)
            lock = lock_directory(path)
        return run_trials(config, argv, path, plan, data)
    finally:
        if lock is not None:
            unlock_directory(path, lock)


def run_trials(config: AbcConfig, argv: list[str], path: str, plan: list, data: AbcData) -> int:
    from lib.errors import RunDiverged
    from lib.runs.run_dir import open_run

    atomic.write_text(os.path.join(path, "config.json"), to_json(dataclasses.replace(config, resume=False,
                                                                                       overwrite=False)))
    print(f"{describe(config, data)}, {config.n_trials} trials -> {path}", flush=True)
    for trial, seed, action in plan:
        where = trial_dir(path, trial)
        if action == "skip":
            print(f"trial {trial} (seed {seed}): {trial_state(where)}, skipped", flush=True)
            continue
        recorded = trial_config(config, where, action)
        run_dir, start_epoch = open_run(where, recorded, argv)
        run_dir.write_json(TRIAL_FILE, {"trial": trial, "seed": seed})
        print(f"trial {trial} (seed {seed})" + (f", resumed after epoch {start_epoch}" if start_epoch else ""),
              flush=True)
        try:
            results = train_trial(recorded, data, seed, run_dir=run_dir, start_epoch=start_epoch)
        except RunDiverged as error:  # the other trials still run, as the original's runner goes on
            print(f"trial {trial}: {error}", flush=True)
            continue
        print(f"trial {trial}: best validation accuracy {100 * results['best_val_acc']:.2f}% (epoch "
              f"{results['best_epoch']}), its test accuracy {100 * results['test_acc']:.2f}%", flush=True)
    _, summary = write_results_table(path, config)
    print(summary, flush=True)
    return 0
