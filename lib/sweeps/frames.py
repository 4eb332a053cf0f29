"""A sweep's runs as DataFrames for `analyze SWEEP_DIR`: one row per run (fresh from the run
directories), then one row per configuration, mean ± std over its seeds.

A configuration is one value of every axis but the seeds. With `select: {best_validation: AXIS}`
the configuration leaves AXIS out, and keeps the value of AXIS whose runs have the best mean
validation metric over the seeds (Glorot & Bengio's Table 1: the learning rate chosen per model on
validation error, the test error reported at that rate).
"""

import math
import os

import pandas as pd

from lib.sweeps.state import FINISHED
from lib.sweeps.table import run_row


def runs_frame(info: dict, directory: str) -> pd.DataFrame:
    """One row per planned run of plan.json `info`: axis values (text; '-' where a flag was left out),
    status, epochs, results."""
    rows = [run_row(info["study"], run["name"], run["values"], os.path.join(directory, run["path"]), directory)
            for run in info["runs"]]
    frame = pd.DataFrame(rows)
    for column in [column for axis in info["axes"] for column in axis]:
        frame[column] = frame[column].fillna("-") if column in frame else "-"
    for column in {info["metric"], *info["columns"]}:
        frame[column] = pd.to_numeric(frame[column], errors="coerce") if column in frame else math.nan
    columns = configuration_columns(info)
    frame["configuration"] = [",".join(f"{column}={row[column]}" for column in columns) or info["name"] for _, row in frame.iterrows()]
    return frame


def configuration_columns(info: dict) -> list[str]:
    selected = selected_columns(info)
    return [column for axis in info["axes"] for column in axis if column not in selected]


def selected_columns(info: dict) -> list[str]:
    """The columns of the axis best_validation selects over (a zipped group's all)."""
    return next((axis for axis in info["axes"] if info["select"] in axis), []) if info["select"] else []


def select_best(runs: pd.DataFrame, info: dict) -> pd.DataFrame:
    """Per configuration, the runs of the selected axis' value with the best mean metric over the seeds
    that finished; a configuration none of whose values has a metric keeps all its runs (nothing to choose by)."""
    keys = ["configuration", *selected_columns(info)]
    finished = runs[runs["status"].isin(FINISHED)]
    means = finished.groupby(keys, sort=False)[info["metric"]].mean().dropna().reset_index()
    by_configuration = means.groupby("configuration", sort=False)[info["metric"]]
    best = means.loc[by_configuration.idxmax() if info["goal"] == "max" else by_configuration.idxmin(), keys]
    chosen = runs.merge(best, on=keys, how="inner")
    unchosen = runs[~runs["configuration"].isin(best["configuration"])]
    return pd.concat([chosen, unchosen], ignore_index=True)


def aggregate(runs: pd.DataFrame, info: dict) -> pd.DataFrame:
    """One row per configuration in plan order: its runs by state and, per column, mean and std over the
    finished runs that have it (std over one run is NaN)."""
    chosen = select_best(runs, info) if info["select"] else runs
    rows = []
    for configuration, first in runs.groupby("configuration", sort=False).first().iterrows():
        group = chosen[chosen["configuration"] == configuration]
        finished = group[group["status"].isin(FINISHED)]
        row = {"configuration": configuration, **{column: first[column] for column in configuration_columns(info)}}
        for column in selected_columns(info):
            row[f"selected_{column}"] = ",".join(dict.fromkeys(group[column].astype(str)))  # all of them, where none had a metric
        row.update(runs=len(group), done=int((group["status"] == "done").sum()),
                   diverged=int((group["status"] == "diverged").sum()), unfinished=int(len(group) - len(finished)))
        for column in info["columns"]:
            values = finished[column].dropna()
            row[f"{column}_mean"] = float(values.mean()) if len(values) else math.nan
            row[f"{column}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def label(row: pd.Series, info: dict) -> str:
    """A configuration's axis values and, with a selection, the value chosen: `model=tanh-N,lr=0.01`."""
    chosen = [f"{column}={row[f'selected_{column}']}" for column in selected_columns(info) if row.get(f"selected_{column}")]
    return ",".join([row["configuration"], *chosen])
