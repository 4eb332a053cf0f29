"""`experiment.py analyze SWEEP_DIR`: a sweep's comparison from its plan.json and its run directories
(read fresh, so a sweep still running is analysed as it stands): per configuration, its runs by
state and each of the grid's `columns` as mean ± std over seeds (with `select`, at the selected
value), as report/summary.csv, a printed table and report/comparison.png.

Everything is read and built before anything is written, so a bad folder writes nothing.
"""

import json
import math
import os

from matplotlib.figure import Figure

from lib.analysis.files import write_report_files
from lib.errors import UsageError
from lib.sweeps import frames, plots
from lib.sweeps.plan import PLAN_FILE
from lib.sweeps.table import format_table

FIGURE_FILE = "comparison.png"
SUMMARY_FILE = "summary.csv"
ROW_INCHES = 0.3  # figure height per configuration
PANEL_WIDTH = 6.5


def is_sweep_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, PLAN_FILE))


def read_plan_info(folder: str) -> dict:
    path = os.path.join(folder, PLAN_FILE)
    try:
        with open(path) as f:
            info = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    needed = ("study", "name", "axes", "select", "metric", "goal", "columns", "runs")
    if not isinstance(info, dict) or any(key not in info for key in needed):
        raise UsageError(f"{path} is not a sweep plan (written by experiment.py sweep)")
    return info


def draw(summary, info: dict) -> Figure:
    figure = Figure(figsize=(PANEL_WIDTH * len(info["columns"]) + 3, 1.5 + ROW_INCHES * len(summary)), layout="constrained")
    for ax, column in zip(figure.subplots(1, len(info["columns"]), squeeze=False)[0], info["columns"]):
        plots.plot_comparison(summary, ax, column, info)
    figure.suptitle(f"sweep {info['name']} ({info['study']})" + (f": best {info['select']} by {info['metric']}" if info["select"] else ""))
    return figure


def printed(summary, info: dict) -> str:
    """The summary with each column as `mean ± std`."""
    rows = []
    hidden = set(frames.configuration_columns(info))  # named in `configuration` already
    for _, row in summary.iterrows():
        shown = {key: row[key] for key in summary.columns if not key.endswith(("_mean", "_std")) and key not in hidden}
        for column in info["columns"]:
            mean, std = row[f"{column}_mean"], row[f"{column}_std"]
            shown[column] = "-" if math.isnan(mean) else f"{mean:.4g}" + ("" if math.isnan(std) else f" ± {std:.2g}")
        rows.append(shown)
    return format_table(rows)


def write_sweep_report(folder: str, out: str | None, progress) -> list[str]:
    info = read_plan_info(folder)
    runs = frames.runs_frame(info, folder)
    summary = frames.aggregate(runs, info)
    figure = draw(summary, info)
    caption = f"sweep {info['name']}: {len(runs)} runs, {len(summary)} configurations\n{printed(summary, info)}"
    return write_report_files(out or os.path.join(folder, "report"), {FIGURE_FILE: figure}, SUMMARY_FILE, summary, caption, progress)
