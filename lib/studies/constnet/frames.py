"""Recorded constnet-study runs (ConstNet / LeakyNet) as tidy pandas DataFrames.

correlations.h5 holds, per measurement epoch (0 = initialization), the raw mean pairwise
Pearson correlation rho of each weight layer's rows (`forward/L`: output filters, `backward/L`:
input channels, `kernels/L`: single kernels) and of each block's output channels
(`activations/B`), plus the reference's `diversity` (reference/constnet.md §3). The frames
report rho as the reference logs it, -ln|rho|: 0 = identical channels, larger = more diverse.
"""

import math
import os
import re
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd

from lib.analysis.files import read_config, run_labels
from lib.errors import UsageError
from lib.storage.epoch_table import read_epoch_table

MEASURES = ("forward", "backward", "kernels", "activations")
# Correlations are means of Pearson coefficients, in [-1, 1] up to rounding; anything further out
# was written as something else (e.g. already as -ln|rho|).
RHO_TOLERANCE = 1e-5


@dataclass(frozen=True)
class ConstnetRun:
    path: str
    label: str
    config: dict
    correlations: dict  # {h5 key: 1-D array}, one entry per measurement
    history: dict  # {h5 key: 1-D array}, one entry per trained epoch


def load_constnet_runs(paths: list[str]) -> list[ConstnetRun]:
    """Read and check every run (config.json, correlations.h5, history.h5) before any frame is built.

    A run is labelled by its directory name; where names repeat, by `<parent>/<name>`, then by path.
    """
    loaded = [_load(path) for path in paths]
    names = run_labels(paths)
    return [ConstnetRun(path, name, *parts) for path, name, parts in zip(paths, names, loaded)]


def _load(path: str) -> tuple[dict, dict, dict]:
    config = read_config(path, "model_history/cifar10/<run name>")
    config_path = os.path.join(path, "config.json")
    if not isinstance(config, dict) or "arch" not in config:
        raise UsageError(f"{path} is not a constnet-study run ({config_path} has no 'arch'); "
                         "the correlation report reads runs of `experiment.py constnet`")
    correlations = _read_table(os.path.join(path, "correlations.h5"), "correlations", ("epoch", "diversity"))
    if not any(key.startswith("forward/") for key in correlations):
        raise UsageError(f"{os.path.join(path, 'correlations.h5')} has no forward/<layer> correlations")
    for key, values in correlations.items():
        if key.split("/")[0] in MEASURES and np.nanmax(np.abs(values), initial=0.0) > 1.0 + RHO_TOLERANCE:
            raise UsageError(f"{os.path.join(path, 'correlations.h5')}: '{key}' holds values outside [-1, 1]; "
                             "expected raw mean correlations, not -ln|rho|")
    history = _read_table(os.path.join(path, "history.h5"), "history", ("val_acc",), allow_empty=True)
    if np.nanmax(history["val_acc"], initial=0.0) > 1.0:
        raise UsageError(f"{os.path.join(path, 'history.h5')}: val_acc exceeds 1; expected accuracy as a fraction")
    return config, correlations, history


def _read_table(path: str, kind: str, required: tuple[str, ...], allow_empty: bool = False) -> dict:
    """An EpochTableWriter file of the given kind with the required keys, or one UsageError naming it."""
    if not os.path.isfile(path):
        raise UsageError(f"{path} does not exist; the correlation report needs a run of `experiment.py constnet` "
                         "that got past its first measurement")
    try:
        with h5py.File(path, "r") as f:
            found_kind = f.attrs.get("kind")
    except OSError as error:
        raise UsageError(f"cannot read {path}: not a readable HDF5 file, perhaps truncated "
                         f"({error.__class__.__name__})") from None
    if found_kind != kind:
        raise UsageError(f"{path} is not an initlab {kind} file (its 'kind' attribute is {found_kind!r})")
    table = read_epoch_table(path)
    if not any(len(values) for values in table.values()):
        if not allow_empty:
            raise UsageError(f"{path} holds no complete measurement; the run stopped before its first one")
        return {key: np.empty(0) for key in required}
    missing = [key for key in required if key not in table]
    if missing:
        raise UsageError(f"{path} lacks {', '.join(missing)}; it was written by another version of initlab")
    return table


def minus_log_abs(rho) -> np.ndarray:
    """-ln|rho|, the reference's logged form: 0 for rho = +-1, +inf for rho = 0, NaN stays NaN."""
    with np.errstate(divide="ignore"):
        return -np.log(np.abs(np.asarray(rho, dtype=np.float64))) + 0.0  # + 0.0 turns -0.0 into 0.0


def network_order(name: str) -> tuple:
    """Sort key of a layer or block name in network order: conv1, group convs (group, block,
    conv), shortcuts (by group), other names, logits. Numbers compare as numbers (group10 > group2)."""
    numbers = [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]
    if name == "conv1":
        rank = 0
    elif name == "logits":
        rank = 4
    elif name.startswith("group"):
        rank = 2 if "shortcut" in name else 1
    else:
        rank = 3
    return rank, numbers


def layer_correlations(runs: list[ConstnetRun]) -> pd.DataFrame:
    """One row per run x measured epoch x measure x layer (or block): rho and -ln|rho|.
    `position` numbers each measure's layers of a run in network order."""
    frames = []
    for run in runs:
        epochs = run.correlations["epoch"].astype(int)
        for measure in MEASURES:
            layers = sorted((key.split("/", 1)[1] for key in run.correlations if key.startswith(measure + "/")),
                            key=network_order)
            for position, layer in enumerate(layers):
                rho = run.correlations[f"{measure}/{layer}"]
                frames.append(pd.DataFrame({"run": run.label, "epoch": epochs, "measure": measure, "layer": layer,
                                            "position": position, "rho": rho, "minus_log_rho": minus_log_abs(rho)}))
    return pd.concat(frames, ignore_index=True)


def mean_over_layers(layers: pd.DataFrame) -> pd.DataFrame:
    """One row per run x epoch x measure: the mean of -ln|rho| over the layers where it was measured
    (NaN rows do not count; one uncorrelated layer, -ln 0 = +inf, makes the mean +inf)."""
    measured = layers.dropna(subset=["minus_log_rho"])
    grouped = measured.groupby(["run", "epoch", "measure"], sort=False)["minus_log_rho"]
    means = grouped.agg(minus_log_rho="mean", layers="size").reset_index()
    # Keep every (run, epoch, measure) of the input, NaN where no layer was measured.
    keys = layers[["run", "epoch", "measure"]].drop_duplicates()
    return keys.merge(means, on=["run", "epoch", "measure"], how="left").fillna({"layers": 0})


def diversity_curves(runs: list[ConstnetRun]) -> pd.DataFrame:
    """Diversity = sum over layers of ln sqrt(1 - rho_bwd^2) per measured epoch, as recorded
    (reference/constnet.md §3; -inf when some layer's input channels are identical)."""
    return pd.concat([pd.DataFrame({"run": run.label, "epoch": run.correlations["epoch"].astype(int),
                                    "diversity": run.correlations["diversity"].astype(np.float64)}) for run in runs],
                     ignore_index=True)


def accuracy_curves(runs: list[ConstnetRun]) -> pd.DataFrame:
    """Test accuracy % after each epoch (history val_acc; the study validates on the test set)."""
    frames = []
    for run in runs:
        accuracy = run.history["val_acc"].astype(np.float64)
        epochs = run.history["epoch"].astype(int) if "epoch" in run.history else np.arange(1, len(accuracy) + 1)
        frames.append(pd.DataFrame({"run": run.label, "epoch": epochs, "test_acc": 100.0 * accuracy}))
    return pd.concat(frames, ignore_index=True)


def summary(runs: list[ConstnetRun], means: pd.DataFrame, diversity: pd.DataFrame,
            accuracy: pd.DataFrame) -> pd.DataFrame:
    """One row per run: test accuracy % (best and after the last epoch) and, at initialization
    (epoch 0) and at the last measurement (end_epoch), the mean -ln|rho| of each measure and Diversity."""
    rows = []
    for run in runs:
        acc = accuracy.loc[accuracy["run"] == run.label, "test_acc"].dropna()
        div = diversity[diversity["run"] == run.label].set_index("epoch")["diversity"]
        run_means = means[means["run"] == run.label].set_index(["measure", "epoch"])["minus_log_rho"]
        last = int(div.index.max())
        row = {"run": run.label, "arch": run.config["arch"], "init": run.config.get("init"),
               "epochs": len(acc), "best_test_acc": acc.max() if len(acc) else math.nan,
               "final_test_acc": acc.iloc[-1] if len(acc) else math.nan, "end_epoch": last}
        for when, epoch in (("init", 0), ("end", last)):
            for measure in ("forward", "backward", "activations"):
                row[f"{measure}_{when}"] = run_means.get((measure, epoch), math.nan)
            row[f"diversity_{when}"] = div.get(epoch, math.nan)
        rows.append(row)
    return pd.DataFrame(rows)
