"""Validation training with learned activations (reference/diversity.md §2.2): `--act_path FILE`.

A D -> H -> classes network (models/learned_activation.py) whose hidden neurons use the learned
functions: all the same learned function k ("pure"), all n in contiguous blocks ("diverse"), or
the un-learned base function ("base", which the original lacks) sampled on the same grid. Each of
R runs reseeds with seed + r and trains with SGD (momentum --inner_mu; the learning rate of the
learned run, which overrides --inner_lr as in the original), batch --inner_batch_size, reshuffled
every epoch; after each epoch the whole training and test sets are evaluated.

Keras' SGD with momentum (v <- mu v - lr g; w <- w + v) and torch's (b <- mu b + g; w <- w - lr b)
take the same steps at a constant learning rate (v = -lr b).

No Keras at import time: the CLI imports this module only to run.
"""

import csv
import io
import os
import time
from typing import Callable, Iterator, NamedTuple

import numpy as np

from lib.datasets.splits import Split
from lib.errors import RunDiverged, UsageError
from lib.storage import atomic
from lib.studies.diversity.activation_files import LearnedActivations, load
from lib.studies.diversity.config import BASE, BASES, DEBUG_EPOCHS, DEBUG_EXAMPLES, DIVERSE, DiversityConfig, resolve, run_path

RUN_COLUMNS = ("run", "seed", "epoch", "train_loss", "train_acc", "test_loss", "test_acc")
CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")  # the original's curve rows
EVALUATION_CHUNK = 10_000  # examples per forward pass when evaluating a whole set
CURVES, MODEL_FILE, RUNS_FILE = "Training_curves", "model.keras", "runs.csv"


class Arm(NamedTuple):
    """What one validation network's hidden layer computes: functions `values` (n, K) on `grid` (K,),
    neuron j using row `assignment[j]`."""

    grid: np.ndarray
    values: np.ndarray
    assignment: np.ndarray


def arm_activations(learned: LearnedActivations, mode: str, base_name: str, grid_points: int | None = None, *,
                    hidden: int = 200) -> Arm:
    """The hidden layer of validation mode 'k' (every neuron uses learned function k, 1-based), 'diverse'
    (all n learned functions in contiguous blocks, lib.studies.diversity.networks.block_assignment) or
    'base' (`base_name`, un-learned, sampled on the learned file's grid, or on linspace(-5, 5,
    grid_points) when given), for `hidden` neurons."""
    from keras import ops

    from lib.studies.diversity import networks

    if mode == BASE:
        if base_name not in BASES:
            raise UsageError(f"unknown base function '{base_name}' (valid: {', '.join(BASES)})")
        grid = learned.x if grid_points is None else np.linspace(*networks.GRID_RANGE, grid_points)
        # float32, as the network computes: the same table on every backend
        values = ops.convert_to_numpy(networks.base_function(base_name)(grid.astype(np.float32)))
        return Arm(grid, values.astype(np.float64)[None], np.zeros(hidden, dtype=np.int64))
    if mode == DIVERSE:
        if learned.n > hidden:
            raise UsageError(f"{learned.source}: {learned.n} learned functions are more than the {hidden} hidden "
                             "neurons to share them")
        return Arm(learned.x, learned.values, networks.block_assignment(hidden, learned.n).astype(np.int64))
    k = int(mode)
    if not 1 <= k <= learned.n:
        raise UsageError(f"--validation_mode {k}: {learned.source} holds n = {learned.n} learned function"
                         f"{'s' if learned.n > 1 else ''} (valid: 1..{learned.n}, 0/False = diverse, base)")
    return Arm(learned.x, learned.values[k - 1:k], np.zeros(hidden, dtype=np.int64))


def load_splits(dataset: str, *, seed: int = 0, debug: bool = False) -> tuple[Split, Split]:
    """(train, test) as flat vectors: MNIST1D's 4,000 / 1,000 (the original's split), MNIST's and CIFAR-10's
    whole training and test sets with pixels in [0, 1] (the original's ToTensor() alone)."""
    from lib.datasets import DATASETS

    options = {"validation_size": 0} if dataset == "mnist1d" else {"validation_size": 0, "normalization": "unit"}
    splits = DATASETS.build(dataset, seed=seed, **options)
    train, test = splits.train.flat(), splits.test.flat()
    return (train.head(DEBUG_EXAMPLES), test.head(DEBUG_EXAMPLES)) if debug else (train, test)


def evaluate(model, split: Split, chunk: int = EVALUATION_CHUNK) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of the whole split, from the model's logits, in float64. The split
    goes through in chunks of `chunk` examples, the last one padded, so that the compiled forward pass
    is traced for one shape only."""
    losses, correct = [], []
    for start in range(0, len(split), chunk):
        x, labels = split.x[start:start + chunk], np.argmax(split.y[start:start + chunk], axis=1)
        padded = np.concatenate([x, np.zeros((chunk - len(x), *x.shape[1:]), x.dtype)]) if len(x) < chunk else x
        logits = np.asarray(model.predict_on_batch(padded), dtype=np.float64)[:len(x)]
        top = logits.max(axis=1, keepdims=True)
        log_norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        losses.append(log_norm - logits[np.arange(len(labels)), labels])
        correct.append(np.argmax(logits, axis=1) == labels)
    return float(np.mean(np.concatenate(losses))), float(np.mean(np.concatenate(correct)))


def build_network(arm: Arm, input_shape, num_classes: int, seed: int):
    """The validation network of one run (seed + r) at its initialization."""
    import keras

    from models import MODELS

    keras.utils.set_random_seed(seed)
    return MODELS.build("learned_activation_mlp", input_shape, num_classes, seed=seed, hidden=len(arm.assignment),
                        grid=arm.grid, values=arm.values, assignment=arm.assignment)


def train_arm(arm: Arm, train: Split, test: Split, *, seed: int, runs: int, epochs: int, learning_rate: float,
              momentum: float, batch_size: int, first_run: int = 0, label: str = "",
              progress: Callable[[str], None] | None = None, on_model: Callable | None = None) -> Iterator[dict]:
    """Train runs first_run..runs-1 of one arm (run r: seed + r) and yield one row per run and epoch
    (RUN_COLUMNS; accuracies as fractions). `progress` gets one line per epoch; `on_model(run, model)`
    is called after each run's last epoch, before its last row is yielded. A non-finite loss raises
    RunDiverged. Batches: a permutation drawn from (seed + r, epoch), the same on every backend.
    The arm's network is compiled once; each run restores its initial weights and optimizer state."""
    import keras

    started, model, fresh_optimizer = time.perf_counter(), None, None
    chunk = min(EVALUATION_CHUNK, max(len(train), len(test)))  # one evaluation shape for both sets
    for run in range(first_run, runs):
        run_seed = seed + run
        initial = build_network(arm, train.x.shape[1:], train.y.shape[1], run_seed)
        if model is None:
            model = initial
            model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
                          loss=keras.losses.CategoricalCrossentropy(from_logits=True))
            model.optimizer.build(model.trainable_variables)
            fresh_optimizer = [keras.ops.convert_to_numpy(variable) for variable in model.optimizer.variables]
        else:  # the compiled model again, from run r's initial weights and a fresh optimizer: no retracing
            model.set_weights(initial.get_weights())
            for variable, value in zip(model.optimizer.variables, fresh_optimizer, strict=True):
                variable.assign(value)
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng([run_seed, epoch]).permutation(len(train))
            for start in range(0, len(train), batch_size):
                batch = order[start:start + batch_size]
                model.train_on_batch(train.x[batch], train.y[batch])
            (train_loss, train_acc), (test_loss, test_acc) = evaluate(model, train, chunk), evaluate(model, test, chunk)
            if not np.isfinite([train_loss, test_loss]).all():
                raise RunDiverged(f"diverged: {label}run {run} (seed {run_seed}) epoch {epoch}: non-finite loss")
            row = dict(run=run, seed=run_seed, epoch=epoch, train_loss=train_loss, train_acc=train_acc,
                       test_loss=test_loss, test_acc=test_acc)
            if progress is not None:
                progress(f"{label}run {run + 1}/{runs} (seed {run_seed}) epoch {epoch}/{epochs}: train loss "
                         f"{train_loss:.4f} acc {100 * train_acc:.2f}%, test loss {test_loss:.4f} acc "
                         f"{100 * test_acc:.2f}% ({time.perf_counter() - started:.1f} s)")
            if epoch == epochs and on_model is not None:
                on_model(run, model)
            yield row


def final_rows(rows: list[dict], epochs: int) -> list[dict]:
    """Each run's row after its last epoch, in run order."""
    return sorted((row for row in rows if row["epoch"] == epochs), key=lambda row: row["run"])


def mean_std(values) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof = 1; None for a single value)."""
    values = np.asarray(values, dtype=np.float64)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else None


def write_csv(path: str, columns: tuple, rows: list[dict]) -> None:
    """The rows as CSV (floats repr'd, so they read back exactly), written atomically."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(key) is None else repr(row[key]) if isinstance(row[key], float) else row[key]
                         for key in columns])
    atomic.write_text(path, text.getvalue())


def read_run_rows(path: str) -> list[dict]:
    """runs.csv back as row dicts (RUN_COLUMNS)."""
    with open(path, newline="") as f:
        return [{key: int(row[key]) if key in ("run", "seed", "epoch") else float(row[key]) for key in RUN_COLUMNS}
                for row in csv.DictReader(f)]


def completed_runs(run_path_: str, epochs: int, save_model: bool) -> list[dict]:
    """The rows of runs 0..k-1 that a resumed validation run keeps: every run whose epochs are all in
    runs.csv, up to the first that is not. The run in progress when it stopped starts over
    (runs are short; each run's result depends only on its seed). Without model.keras, all start over."""
    path = os.path.join(run_path_, RUNS_FILE)
    if not os.path.isfile(path) or (save_model and not os.path.isfile(os.path.join(run_path_, MODEL_FILE))):
        return []
    rows, kept = read_run_rows(path), []
    for run in range(len(rows)):
        done = [row for row in rows if row["run"] == run]
        if [row["epoch"] for row in done] != list(range(1, epochs + 1)):
            break
        kept.extend(done)
    return kept


def save_model(path: str, model) -> None:
    """model.keras, written under a temporary name and renamed (Keras insists on the .keras suffix)."""
    temporary = os.path.join(os.path.dirname(path), atomic.TEMPORARY_PREFIX + os.path.basename(path))
    model.save(temporary)
    os.replace(temporary, path)


def write_curves(folder: str, rows: list[dict], runs: int) -> None:
    """--save_curve: the original's per-run curve, (epochs x 5) [epoch, train_loss, train_acc, test_loss, test_acc]."""
    os.makedirs(folder, exist_ok=True)
    for run in range(runs):
        curve = np.array([[row[key] for key in CURVE_COLUMNS] for row in rows if row["run"] == run], dtype=np.float64)
        text = io.StringIO()
        np.savetxt(text, curve, fmt="%.18e")
        atomic.write_text(os.path.join(folder, f"train_loss_run_{run}.txt"), text.getvalue())


def run_validation(config: DiversityConfig, argv: list[str]) -> int:
    """Validation runs of --act_path in one run directory: runs.csv (rewritten after every epoch),
    results.json, status.json; --save_model (run 0's network), --save_curve, --debug (one run of
    one epoch on the first examples, nothing saved). --resume keeps the runs that finished and
    starts the rest over, the one in progress included."""
    from lib.runs.interruption import Interruption
    from lib.runs.run_dir import check_run_path, open_run

    config = resolve(config)
    learned = load(config.act_path)
    base = learned.base or config.activation  # the file's, as the original reads it from the file name
    arm = arm_activations(learned, config.validation_mode, base, hidden=config.inner_hidden_size)
    learning_rate = learned.inner_lr or config.inner_lr
    runs, epochs = (1, DEBUG_EPOCHS) if config.debug else (config.runs, config.epochs)
    path = run_path(config)
    if not config.debug:
        check_run_path(path, overwrite=config.overwrite, resume=config.resume)
    train, test = load_splits(config.dataset, seed=config.seed, debug=config.debug)
    run_dir = None if config.debug else open_run(path, config, argv)[0]
    rows = completed_runs(path, epochs, config.save_model) if run_dir is not None and config.resume else []
    first_run = len(rows) // epochs
    print(f"diversity: validation ({_mode_text(config.validation_mode, learned.n)}, {base} base, {len(learned.x)}-point "
          f"grid) of {learned.source}; {config.dataset} {train.x.shape[1]}-{len(arm.assignment)}-{train.y.shape[1]}, "
          f"SGD lr {learning_rate:g} momentum {config.inner_mu:g}, batch {config.inner_batch_size}, {runs} run(s) of "
          f"{epochs} epoch(s)" + (f" -> {path}" if run_dir else " (debug: nothing saved)")
          + (f", {first_run} finished run(s) kept" if first_run else ""), flush=True)

    def keep_model(run, model):
        if run == 0 and run_dir is not None and config.save_model:
            save_model(run_dir.file(MODEL_FILE), model)

    interruption = Interruption()
    try:
        with interruption.handling(None):
            for row in train_arm(arm, train, test, seed=config.seed, runs=runs, epochs=epochs,
                                 learning_rate=learning_rate, momentum=config.inner_mu,
                                 batch_size=config.inner_batch_size, first_run=first_run,
                                 progress=lambda line: print(line, flush=True), on_model=keep_model):
                rows.append(row)
                if run_dir is not None:
                    write_csv(run_dir.file(RUNS_FILE), RUN_COLUMNS, rows)
                if interruption.requested and len(rows) < runs * epochs:
                    raise interruption.error()
    except BaseException as error:
        if run_dir is not None:
            run_dir.set_stopped(error, last_epoch=len(rows))
        raise
    results = _results(config, learned, base, learning_rate, rows, epochs)
    if run_dir is not None:
        if config.save_curve:
            write_curves(run_dir.file(CURVES), rows, runs)
        run_dir.write_json("results.json", results)
        run_dir.set_status("done", last_epoch=len(rows))
    std = results["test_acc_std"]
    print(f"test accuracy {100 * results['test_acc_mean']:.2f}%" + (f" ± {100 * std:.2f}%" if std is not None else "")
          + f" over {runs} run(s) (test loss {results['test_loss_mean']:.4f})", flush=True)
    return 0


def _mode_text(mode: str, n: int) -> str:
    return {DIVERSE: f"diverse: all {n} learned functions in blocks", BASE: "base: the un-learned base function"}.get(
        mode, f"pure: learned function {mode} of {n}")


def _results(config, learned, base, learning_rate, rows, epochs) -> dict:
    finals = final_rows(rows, epochs)
    acc_mean, acc_std = mean_std([row["test_acc"] for row in finals])
    loss_mean, loss_std = mean_std([row["test_loss"] for row in finals])
    return {"mode": config.validation_mode, "runs": len(finals), "epochs": epochs, "dataset": config.dataset,
            "act_path": learned.source, "n_activations": learned.n, "grid_points": len(learned.x), "base": base,
            "inner_lr": learning_rate, "seeds": [row["seed"] for row in finals],
            "test_acc": [row["test_acc"] for row in finals], "test_loss": [row["test_loss"] for row in finals],
            "train_acc": [row["train_acc"] for row in finals], "train_loss": [row["train_loss"] for row in finals],
            "test_acc_mean": acc_mean, "test_acc_std": acc_std, "test_loss_mean": loss_mean, "test_loss_std": loss_std}
