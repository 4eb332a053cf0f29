"""Recorded weightnorm-study runs as pandas DataFrames: training curves, one summary row per run,
and the poster's robustness tables (reference/weightnorm_abc.md §A7).

A run directory holds config.json, status.json (`state`, `last_epoch`: epochs completed), history.h5
(per epoch from 1: loss, acc, val_loss, val_acc, learning_rate) and, once done or diverged,
results.json (epochs_completed, best_epoch, best_val_acc, test_acc of the best-validation
checkpoint, ...). A --hessian run holds results.json with hessian_top_eigenvalue and
log_spectral_norm and no history.
"""

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from lib.analysis.files import read_config, read_json_object, run_labels
from lib.errors import UsageError
from lib.runs.run_dir import STATES
from lib.storage.epoch_table import FIRST_EPOCH, read_epoch_table

EXAMPLE_RUN = "model_history/mnist/mlp-2x128-orthogonal_proposed-wn-seed1"
REACH_EPOCH = 3  # the poster's LR robustness: "% of seeds that reach epoch 3 without diverging"
CONFIG_KEYS = ("dataset", "nn", "init", "weight_norm", "batch_norm", "lr", "seed", "num_epochs", "warmup_epochs", "hessian")
DEPTH_KEYS = {"mlp": ("num_layers",), "cnn": ("num_layers",), "resnet": ("num_blocks",), "wrn": ("wrn_n",)}
CURVE_COLUMNS = ("loss", "acc", "val_loss", "val_acc", "learning_rate")
SETTING_COLUMNS = ("dataset", "nn", "depth", "method", "lr", "warmup")  # what tells a run apart, its seed aside
FINISHED = ("done", "diverged")  # the runs with a test accuracy: results.json


def depth(config) -> int:
    """The network's depth as the paper counts it: MLP/CNN hidden layers, ResNet 6B + 2 (B blocks per
    stage), WRN-d-k's d = 6N + 4 (§A3). `config` is a config.json dict or a WeightnormConfig."""
    field = config.get if isinstance(config, Mapping) else lambda name: getattr(config, name, None)
    nn = field("nn")
    if nn not in DEPTH_KEYS:
        raise UsageError(f"unknown network '{nn}' (valid: {', '.join(DEPTH_KEYS)})")
    if nn == "wrn":
        return 6 * int(field("wrn_n")) + 4
    if nn == "resnet":
        return 6 * int(field("num_blocks")) + 2
    return int(field("num_layers"))


@dataclass(frozen=True)
class WeightnormRun:
    path: str
    label: str
    config: dict
    status: dict  # status.json: state, last_epoch, reason
    results: dict  # results.json; {} where the run has none (yet)
    history: pd.DataFrame  # one row per completed epoch: epoch + CURVE_COLUMNS present in history.h5


def load_weightnorm_runs(paths: list[str]) -> list[WeightnormRun]:
    """Read and check every run before any frame is built; labels are the directory names
    (`<parent>/<name>` where names repeat, then the paths)."""
    return [_load(path, label) for path, label in zip(paths, run_labels(paths))]


def _load(path: str, label: str) -> WeightnormRun:
    config = read_config(path, EXAMPLE_RUN)
    if not isinstance(config, dict) or config.get("study") != "weightnorm":
        raise UsageError(f"{path} is not a weightnorm-study run (its config.json does not name study 'weightnorm')")
    missing = [key for key in (*CONFIG_KEYS, *DEPTH_KEYS.get(config.get("nn"), ())) if key not in config]
    if missing:
        raise UsageError(f"{path}/config.json lacks {', '.join(missing)}; it was written by another version of initlab")
    depth(config)  # an unknown network is an error here, before any frame
    status = _read_json(path, "status.json", required=True)
    if status.get("state") not in STATES:
        raise UsageError(f"{path}/status.json has state {status.get('state')!r} (valid: {', '.join(STATES)})")
    results = _read_json(path, "results.json", required=status["state"] == "done")
    history = pd.DataFrame(columns=["epoch"]) if config["hessian"] else _read_history(path)
    return WeightnormRun(path, label, config, status, results, history)


def _read_json(path: str, name: str, *, required: bool) -> dict:
    absent = "; a finished run writes one" if name == "results.json" else "; it is not a run directory of `experiment.py weightnorm`"
    return read_json_object(path, name, required=required, absent=absent)


def _read_history(path: str) -> pd.DataFrame:
    """history.h5's complete rows with their epochs (empty for a run stopped before its first epoch)."""
    file = os.path.join(path, "history.h5")
    if not os.path.isfile(file):
        return pd.DataFrame(columns=["epoch"])
    try:
        with h5py.File(file, "r") as f:
            kind, first = f.attrs.get("kind"), int(f.attrs.get(FIRST_EPOCH, 1))
    except OSError as error:
        raise UsageError(f"cannot read {file}: not a readable HDF5 file, perhaps truncated ({error.__class__.__name__})") from None
    if kind != "history":
        raise UsageError(f"{file} is not an initlab history file (its 'kind' attribute is {kind!r})")
    table = pd.DataFrame({key: values for key, values in read_epoch_table(file).items() if key in CURVE_COLUMNS})
    table.insert(0, "epoch", np.arange(first, first + len(table)))
    return table


def _number(run: WeightnormRun, key: str) -> float:
    """results.json's `key` as a float; NaN where it is absent or null."""
    value = run.results.get(key)
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{run.path}/results.json: {key} is {value!r}, not a number") from None


def init_label(config: dict) -> str:
    """The --init name, +hanin for the stage-wise Hanin baseline (§A5)."""
    return config["init"] + ("+hanin" if config.get("init_extra_param") == "hanin" else "")


def method(config: dict) -> str:
    """The init as the poster's legends name it (init_label), with what departs from the poster's
    WN networks: no WN, BN."""
    return init_label(config) + (" no WN" if not config["weight_norm"] else "") + (" BN" if config["batch_norm"] else "")


def epochs_completed(run: WeightnormRun) -> int:
    """Epochs trained without diverging: results.json's count, else (a running run) the rows of
    history.h5, else status.json's last_epoch."""
    if "epochs_completed" in run.results:
        return int(run.results["epochs_completed"])
    if run.status["state"] == "running":
        return len(run.history)
    return int(run.status.get("last_epoch") or 0)


def reached(run: WeightnormRun, completed: int, reach_epoch: int):
    """True: `reach_epoch` epochs completed without diverging; False: diverged before; NA: not known:
    a --hessian run, a run of fewer epochs (only its failures could be known, a biased count), or one
    that stopped or is running short of that epoch without diverging."""
    if run.config["hessian"] or int(run.config["num_epochs"]) < reach_epoch:
        return pd.NA
    if completed >= reach_epoch:
        return True
    return False if run.status["state"] == "diverged" else pd.NA


def _train_acc(run: WeightnormRun, best_epoch: float) -> float:
    """Training accuracy of the epoch whose checkpoint was tested (best validation accuracy)."""
    rows = run.history[run.history["epoch"] == best_epoch]
    return float(rows["acc"].iloc[0]) if len(rows) and "acc" in rows else math.nan


def summary(runs: list[WeightnormRun], reach_epoch: int = REACH_EPOCH) -> pd.DataFrame:
    """One row per run, in the order given: its setting, seed, status, epochs completed, whether it
    reached `reach_epoch` (see `reached`), the validation and test accuracies (fractions; test and
    train_acc of the best-validation checkpoint), and a --hessian run's measurements."""
    rows = []
    for run in runs:
        config, completed = run.config, epochs_completed(run)
        best_epoch = _number(run, "best_epoch")
        rows.append({"run": run.label, "dataset": config["dataset"], "nn": config["nn"], "depth": depth(config),
                     "init": init_label(config), "method": method(config), "weight_norm": bool(config["weight_norm"]),
                     "batch_norm": bool(config["batch_norm"]), "lr": float(config["lr"]),
                     "warmup": float(config["warmup_epochs"]) > 0, "warmup_epochs": float(config["warmup_epochs"]),
                     "seed": int(config["seed"]), "hessian": bool(config["hessian"]), "status": run.status["state"],
                     "epochs": int(config["num_epochs"]), "epochs_completed": completed, "reach_epoch": reach_epoch,
                     "reached": reached(run, completed, reach_epoch), "best_epoch": best_epoch,
                     "best_val_acc": _number(run, "best_val_acc"), "final_val_acc": _number(run, "final_val_acc"),
                     "train_acc": _train_acc(run, best_epoch), "test_acc": _number(run, "test_acc"),
                     "log_spectral_norm": _number(run, "log_spectral_norm"),
                     "hessian_top_eigenvalue": _number(run, "hessian_top_eigenvalue"),
                     "reason": run.status.get("reason") or ""})
    table = pd.DataFrame(rows).astype({"reached": "boolean"})
    table.insert(1, "setting", describe(table, SETTING_COLUMNS))
    return table


def _describe_value(column: str, value) -> str:
    if column == "depth":
        return f"depth {value}"
    if column == "lr":
        return f"lr {value:g}"
    if column == "warmup":
        return "warmup" if value else "no warmup"
    return str(value)


def describe(table: pd.DataFrame, columns) -> list[str]:
    """A label per row naming its values of those `columns` that vary over the table, and always
    its method: `he_datadep`, `he_datadep depth 100`, `he_datadep lr 0.05 warmup`, ..."""
    shown = ["method", *(column for column in columns if column != "method" and table[column].nunique(dropna=False) > 1)]
    return [" ".join(_describe_value(column, row[column]) for column in shown) for _, row in table.iterrows()]


def history(runs: list[WeightnormRun], table: pd.DataFrame) -> pd.DataFrame:
    """One row per run x completed epoch: run, setting, epoch and CURVE_COLUMNS (NaN where a run
    lacks one); --hessian runs have none."""
    settings = dict(zip(table["run"], table["setting"]))
    frames = [run.history.assign(run=run.label, setting=settings[run.label]) for run in runs if len(run.history)]
    columns = ["run", "setting", "epoch", *CURVE_COLUMNS]
    return pd.concat(frames, ignore_index=True).reindex(columns=columns) if frames else pd.DataFrame(columns=columns)


def curves(per_epoch: pd.DataFrame, by: str) -> pd.DataFrame:
    """The lines of plot_curves, named in column `curve`: one per run (`by="run"`), or the mean over
    the runs (seeds) of each setting (`by="setting"`: `<setting> (mean of <runs>)`; column `runs`
    counts the runs that recorded the epoch)."""
    if by == "run":
        return per_epoch.assign(curve=per_epoch["run"])
    grouped = per_epoch.groupby(["setting", "epoch"], sort=False)
    means = grouped[list(CURVE_COLUMNS)].mean().join(grouped.size().rename("runs")).reset_index()
    runs = per_epoch.groupby("setting")["run"].nunique()
    return means.assign(curve=[f"{setting} (mean of {runs[setting]})" for setting in means["setting"]])


def depth_robustness(table: pd.DataFrame) -> pd.DataFrame:
    """Poster, accuracy against depth: per dataset, network, method, LR, warmup and depth, the mean and
    sample std over the finished runs (done or diverged; not --hessian) of the test and train accuracy
    of the best-validation checkpoint. A run that diverged before its first checkpoint counts as
    accuracy 0: it failed to train (the poster's ≈0 of data-dependent init at depth 100)."""
    runs = table[table["status"].isin(FINISHED) & ~table["hessian"]]
    failed = (runs["status"] == "diverged") & runs["test_acc"].isna()
    runs = runs.assign(test_acc=runs["test_acc"].mask(failed, 0.0), train_acc=runs["train_acc"].mask(failed, 0.0),
                       diverged=runs["status"] == "diverged")
    keys = ["dataset", "nn", "method", "lr", "warmup", "depth"]
    grouped = runs.groupby(keys)
    return grouped.agg(runs=("run", "size"), diverged=("diverged", "sum"), test_acc_mean=("test_acc", "mean"),
                       test_acc_std=("test_acc", "std"), train_acc_mean=("train_acc", "mean"),
                       train_acc_std=("train_acc", "std")).reset_index()


def lr_robustness(table: pd.DataFrame) -> pd.DataFrame:
    """Poster, WRN-40-10 against LR: per dataset, network, depth, method, warmup and LR, the fraction
    of runs (seeds) that completed reach_epoch epochs without diverging, over the runs where that is
    known (`reached` not NA; running and --hessian runs left out)."""
    runs = table[(table["status"] != "running") & table["reached"].notna()]
    runs = runs.assign(reached=runs["reached"].astype(bool))
    keys = ["dataset", "nn", "depth", "method", "warmup", "lr"]
    grouped = runs.groupby(keys)
    result = grouped.agg(reach_epoch=("reach_epoch", "first"), runs=("run", "size"), reached=("reached", "sum"))
    return result.assign(fraction=result["reached"] / result["runs"]).reset_index()


def hessian(table: pd.DataFrame) -> pd.DataFrame:
    """Poster, log spectral norm of the Hessian at init: per dataset, network, depth and method, the
    mean and sample std over the --hessian runs (seeds) of log_spectral_norm and the top eigenvalue."""
    runs = table[table["hessian"] & table["log_spectral_norm"].notna()]
    grouped = runs.groupby(["dataset", "nn", "depth", "method"])
    return grouped.agg(runs=("run", "size"), log_spectral_norm_mean=("log_spectral_norm", "mean"),
                       log_spectral_norm_std=("log_spectral_norm", "std"),
                       hessian_top_eigenvalue_mean=("hessian_top_eigenvalue", "mean"),
                       hessian_top_eigenvalue_std=("hessian_top_eigenvalue", "std")).reset_index()


def left_out(table: pd.DataFrame) -> pd.DataFrame:
    """The trained runs that a robustness table leaves out, and why: one row (table, why, run) per
    run and table. Depth: runs without a test accuracy (running, interrupted, failed); LR: runs
    not known to reach reach_epoch (see `reached`; running runs always)."""
    rows = []
    for _, row in table[~table["hessian"]].iterrows():
        if row["status"] not in FINISHED:
            rows.append({"table": "depth", "why": row["status"], "run": row["run"]})
        if row["epochs"] < row["reach_epoch"]:
            rows.append({"table": "LR", "why": f"trained fewer than {row['reach_epoch']} epochs", "run": row["run"]})
        elif row["status"] == "running" or pd.isna(row["reached"]):
            why = "running" if row["status"] == "running" else f"{row['status']} before epoch {row['reach_epoch']}"
            rows.append({"table": "LR", "why": why, "run": row["run"]})
    return pd.DataFrame(rows, columns=["table", "why", "run"])
