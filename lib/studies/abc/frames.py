"""Recorded abc-study runs as pandas DataFrames: one row per trial, one summary row per run, the test
accuracy per activation (the notebook's table: IP-LLR ReLU ≈ chance, GeLU / ELU / tanh train) and the
per-step curves with their spread over trials (reference/weightnorm_abc.md §B5).

A run directory `<out>/<dataset>/<name>/` (run.py) holds results.csv and one folder `trial_<i>` per trial
seed, each a run directory of its own: config.json (study abc), trial.json (trial, seed), status.json,
results.json once done (best_epoch, best_val_acc, test_acc of the best-validation weights, ...) and
per_step/history.h5 (steps.py: one row per SGD step, row 0 is step 1: loss, likelihood, accuracy,
abs_output, lr_<group>). results.csv is derived from the trials' results.json, which are read here.

Means and stds over trials are NumPy's (std with ddof 0), as results.csv and the original's runner.
"""

import math
import os
import re
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from lib.analysis.files import read_config, read_json_object, run_labels
from lib.errors import UsageError
from lib.runs.run_dir import STATES
from lib.storage.epoch_table import read_epoch_table

EXAMPLE_RUN = "model_history/digits/ipllr-L6-m1024-relu-lr0.01-bs512-warmup1-seed42"
STEP_TABLE = os.path.join("per_step", "history.h5")  # steps.STEP_TABLE (steps.py imports Keras)
TRIAL_FOLDER = re.compile(r"trial_(\d+)$")
TRIAL_FILE = "trial.json"  # run.TRIAL_FILE
CONFIG_KEYS = ("dataset", "parameterization", "activation", "width", "n_layers", "base_lr", "batch_size", "n_steps",
               "seed", "model")
# What tells two runs apart, in the order labels name them; `seed` is the runner's, which draws the trial seeds.
SETTING_COLUMNS = ("parameterization", "activation", "dataset", "width", "n_layers", "lr", "batch_size", "bias",
                   "n_steps", "seed")
STEP_COLUMNS = ("loss", "abs_output", "likelihood", "accuracy")  # the curves' columns of per_step/history.h5
CHANCE_LOSS = math.log(10)  # cross-entropy of the uniform prediction over 10 classes


@dataclass(frozen=True)
class AbcTrial:
    index: int
    path: str
    seed: int | None  # trial.json's; None where it is missing
    status: dict  # status.json: state, last_epoch, reason
    results: dict  # results.json; {} where the trial has none (yet)
    steps: pd.DataFrame  # one row per recorded SGD step: step (from 1) + STEP_COLUMNS


@dataclass(frozen=True)
class AbcRun:
    path: str
    label: str
    config: dict  # the first trial's config.json
    trials: tuple  # AbcTrial, by trial index


def load_abc_runs(paths: list[str]) -> list[AbcRun]:
    """Read and check every run before any frame is built. A path is a run directory (all its trials)
    or one of its `trial_<i>` folders (that trial; folders of one run are grouped into it, in the
    order given). Labels are the run directories' names (`<parent>/<name>` where names repeat)."""
    chosen: dict[str, list[int] | None] = {}  # run directory -> trial indices, None for all
    for path in paths:
        root, index = _run_of(path)
        if index is None or chosen.get(root, []) is None:
            chosen[root] = None
        elif index not in chosen.setdefault(root, []):
            chosen[root].append(index)
    roots = list(chosen)
    return [_load(root, label, chosen[root]) for root, label in zip(roots, run_labels(roots))]


def _run_of(path: str) -> tuple[str, int | None]:
    """(run directory, trial index) of a trial folder, (path, None) of a run directory."""
    path = os.path.normpath(path)
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a directory; pass a run directory such as {EXAMPLE_RUN}")
    match = TRIAL_FOLDER.match(os.path.basename(path))
    if match and os.path.isfile(os.path.join(path, TRIAL_FILE)):
        return os.path.dirname(path), int(match.group(1))
    return path, None


def trial_indices(path: str) -> list[int]:
    """The indices of the `trial_<i>` folders of run directory `path`, in order."""
    found = [TRIAL_FOLDER.match(name) for name in os.listdir(path)]
    return sorted(int(match.group(1)) for match in found if match and os.path.isdir(os.path.join(path, match.group(0))))


def _load(path: str, label: str, indices: list[int] | None) -> AbcRun:
    indices = trial_indices(path) if indices is None else sorted(indices)
    if not indices:
        hint = _other_study(path)
        raise UsageError(f"{path} is not an abc-study run directory (no trial_<i> folders){hint}")
    folders = [os.path.join(path, f"trial_{index}") for index in indices]
    configs = [_check_config(folder) for folder in folders]
    first = settings(configs[0])
    for folder, config in zip(folders[1:], configs[1:]):
        differs = [column for column, value in settings(config).items() if value != first[column]]
        if differs:
            raise UsageError(f"{folder} was trained with another {differs[0]} than {folders[0]}; the trials "
                             "of one run share their settings")
    return AbcRun(path, label, configs[0], tuple(_load_trial(folder, index) for folder, index in zip(folders, indices)))


def _other_study(path: str) -> str:
    """`; it is a <study>-study run` where `path` holds another study's config.json."""
    if not os.path.isfile(os.path.join(path, "config.json")):
        return ""
    config = read_config(path, EXAMPLE_RUN)
    study = config.get("study") if isinstance(config, dict) else None
    return f"; it is a {study}-study run" if study and study != "abc" else ""


def _check_config(path: str) -> dict:
    config = read_config(path, EXAMPLE_RUN)
    if not isinstance(config, dict) or config.get("study") != "abc":
        raise UsageError(f"{path} is not an abc-study trial (its config.json does not name study 'abc')")
    missing = [key for key in CONFIG_KEYS if config.get(key) is None]
    if missing:
        raise UsageError(f"{path}/config.json lacks {', '.join(missing)}; it was written by another version of initlab")
    return config


def _load_trial(path: str, index: int) -> AbcTrial:
    status = _read_json(path, "status.json", required=True)
    if status.get("state") not in STATES:
        raise UsageError(f"{path}/status.json has state {status.get('state')!r} (valid: {', '.join(STATES)})")
    results = _read_json(path, "results.json", required=status["state"] == "done")
    seed = _read_json(path, TRIAL_FILE, required=False).get("seed")
    return AbcTrial(index, path, None if seed is None else int(seed), status, results,
                    _read_steps(path, required=status["state"] == "done"))


def _read_json(path: str, name: str, *, required: bool) -> dict:
    absent = "; a finished trial writes one" if name == "results.json" else "; it is not a trial of `experiment.py abc`"
    return read_json_object(path, name, required=required, absent=absent)


def _read_steps(path: str, *, required: bool) -> pd.DataFrame:
    """per_step/history.h5's complete rows with their steps (empty for a trial stopped before its first)."""
    file = os.path.join(path, STEP_TABLE)
    if not os.path.isfile(file):
        if required:
            raise UsageError(f"{path} has no {STEP_TABLE}; a finished trial writes one")
        return pd.DataFrame(columns=["step", *STEP_COLUMNS])
    try:
        with h5py.File(file, "r") as f:
            kind = f.attrs.get("kind")
    except OSError as error:
        raise UsageError(f"cannot read {file}: not a readable HDF5 file, perhaps truncated ({error.__class__.__name__})") from None
    if kind != "steps":
        raise UsageError(f"{file} is not an abc per-step table (its 'kind' attribute is {kind!r})")
    table = read_epoch_table(file)
    rows = len(next(iter(table.values()), []))
    missing = [column for column in ("loss", "abs_output") if column not in table]
    if missing and rows:
        raise UsageError(f"{file} lacks {', '.join(missing)}; it was written by another version of initlab")
    steps = pd.DataFrame({column: table.get(column, np.full(rows, np.nan)) for column in STEP_COLUMNS})
    steps.insert(0, "step", np.arange(1, len(steps) + 1))
    return steps


def settings(config: dict) -> dict:
    """SETTING_COLUMNS of a trial's config.json: lr is the base learning rate, bias the model's."""
    bias = (config.get("model") or {}).get("architecture", {}).get("bias")
    return {"parameterization": config["parameterization"], "activation": config["activation"],
            "dataset": config["dataset"], "width": int(config["width"]), "n_layers": int(config["n_layers"]),
            "lr": float(config["base_lr"]), "batch_size": int(config["batch_size"]), "bias": bool(bias),
            "n_steps": int(config["n_steps"]), "seed": int(config["seed"])}


def _number(trial: AbcTrial, key: str) -> float:
    """results.json's `key` as a float; NaN where it is absent or null."""
    value = trial.results.get(key)
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{trial.path}/results.json: {key} is {value!r}, not a number") from None


def _last(steps: pd.DataFrame, column: str) -> float:
    return float(steps[column].iloc[-1]) if len(steps) else math.nan


def trials(runs: list[AbcRun]) -> pd.DataFrame:
    """One row per trial: run, its settings, trial, seed, state, steps recorded, best epoch, best validation
    and test accuracy (fractions, of the best-validation weights), and the last step's training loss and
    mean |output| (that step's batch)."""
    rows = []
    for run in runs:
        for trial in run.trials:
            rows.append({"run": run.label, **settings(run.config), "trial": trial.index, "trial_seed": trial.seed,
                         "state": trial.status["state"], "steps": len(trial.steps),
                         "best_epoch": _number(trial, "best_epoch"), "best_val_acc": _number(trial, "best_val_acc"),
                         "test_acc": _number(trial, "test_acc"), "final_loss": _last(trial.steps, "loss"),
                         "final_abs_output": _last(trial.steps, "abs_output")})
    return pd.DataFrame(rows).astype({"trial_seed": "Int64"})


def _spread(table: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of `keys`: trials, trials done, and the mean and std (ddof 0) over the trials that have one
    of the test accuracy and the final loss (a non-finite final loss, a diverged trial's, is left out)."""
    table = table.assign(done=table["state"] == "done",
                         final_loss=table["final_loss"].where(np.isfinite(table["final_loss"])))
    grouped = table.groupby(keys, sort=False)
    return grouped.agg(trials=("trial", "size"), trials_done=("done", "sum"), tested=("test_acc", "count"),
                       test_acc_mean=("test_acc", "mean"), test_acc_std=("test_acc", _std),
                       final_loss_mean=("final_loss", "mean"), final_loss_std=("final_loss", _std)).reset_index()


def _std(values: pd.Series) -> float:
    """NumPy's std (ddof 0) of the values present; NaN where there are none."""
    present = values.dropna().to_numpy(dtype=np.float64)
    return float(np.std(present)) if len(present) else math.nan


def summary(per_trial: pd.DataFrame) -> pd.DataFrame:
    """One row per run, in the order given: run, its settings, trials (folders read), trials done, trials with
    a test accuracy, and mean ± std over trials of the test accuracy and of the final training loss."""
    return _spread(per_trial, ["run", *SETTING_COLUMNS])


def accuracy_by_activation(per_trial: pd.DataFrame) -> pd.DataFrame:
    """The results table: per parameterization and activation (and whatever else varies between the runs,
    the runner's seed aside: the trials of such runs are pooled), the test accuracy's mean ± std over trials."""
    keys = ["parameterization", "activation", *varying(per_trial, SETTING_COLUMNS[2:-1])]
    return _spread(per_trial, keys).sort_values(keys, kind="stable", ignore_index=True)


def varying(table: pd.DataFrame, columns) -> list[str]:
    return [column for column in columns if table[column].nunique(dropna=False) > 1]


def describe_value(column: str, value) -> str:
    formats = {"width": "m={}", "lr": "lr {:g}", "batch_size": "bs {}", "n_steps": "{} steps",
               "seed": "seed {}"}
    if column == "n_layers":
        return f"L={value - 1}"  # hidden layers, as the run names and the paper count them
    if column == "bias":
        return "bias" if value else "no bias"
    return formats.get(column, "{}").format(value)


def describe(table: pd.DataFrame, columns) -> list[str]:
    """A label per row naming its values of those `columns` that vary over the table (`relu`, `ipllr gelu`,
    `gelu m=64`); the activation always."""
    shown = [column for column in columns if column == "activation" or table[column].nunique(dropna=False) > 1]
    return [" ".join(describe_value(column, row[column]) for column in shown) for _, row in table.iterrows()]


def curve_labels(table: pd.DataFrame) -> pd.DataFrame:
    """Per run (rows of `summary`): `curve`, its label, and `family`, the label without the parameterization
    (a colour each, the parameterization a line style); the run names where the settings do not tell
    the runs apart."""
    curves = describe(table, SETTING_COLUMNS)
    families = describe(table, SETTING_COLUMNS[1:])
    if len(set(curves)) < len(curves):
        curves = families = list(table["run"])
    return pd.DataFrame({"run": table["run"], "curve": curves, "family": families,
                         "parameterization": table["parameterization"]})


def steps(runs: list[AbcRun]) -> pd.DataFrame:
    """One row per run x trial x recorded step: run, trial, step and STEP_COLUMNS."""
    columns = ["run", "trial", "step", *STEP_COLUMNS]
    frames = [trial.steps.assign(run=run.label, trial=trial.index) for run in runs for trial in run.trials
              if len(trial.steps)]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns) if frames else pd.DataFrame(columns=columns)


def bands(per_step: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """The lines of plots.plot_band: per run and step, the mean, min and max over its trials of the loss and
    mean |output| (`<column>_mean`, `_min`, `_max`; non-finite values, a diverging trial's, left out) and
    `trials`, how many trials recorded the step; with the run's curve, family and parameterization."""
    finite = per_step.assign(**{column: per_step[column].where(np.isfinite(per_step[column].astype(float)))
                                for column in ("loss", "abs_output")})
    grouped = finite.groupby(["run", "step"], sort=False)
    table = grouped[["loss", "abs_output"]].agg(["mean", "min", "max"])
    table.columns = [f"{column}_{statistic}" for column, statistic in table.columns]
    table = table.join(grouped.size().rename("trials")).reset_index()
    return table.merge(labels, on="run", how="left")
