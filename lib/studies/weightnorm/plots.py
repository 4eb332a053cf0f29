"""The weightnorm study's figures as `plot_*(df, ax)`: one frame of lib.studies.weightnorm.frames on
one matplotlib axis. Nothing here writes a file.

The poster's robustness claims (reference/weightnorm_abc.md §A7): with the proposed init, accuracy
holds up with depth where data-dependent init falls to ≈0, and more seeds survive a large learning
rate, with and without warmup.
"""

import matplotlib
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from lib.studies.weightnorm.frames import describe

DEPTH_LINE = ["dataset", "nn", "method", "lr", "warmup"]  # one line of accuracy against depth each
LR_LINE = ["dataset", "nn", "depth", "method"]  # one colour of the LR robustness figure each
METRIC_NAMES = {"acc": "accuracy", "loss": "cross-entropy loss"}


def values(rows, column: str) -> np.ndarray:
    """A column as floats: matplotlib then draws numbers, whatever the frame's dtype."""
    return rows[column].to_numpy(dtype=np.float64)


def line_color(index: int):
    return matplotlib.colormaps["tab10"](index % 10)


def _log_axis(ax, values) -> None:
    """A log x axis ticked at the values present, written as plain numbers (0.005, 0.1, 100)."""
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(values)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(alpha=0.3)


def _legend(ax, extra: list | None = None) -> None:
    handles, labels = ax.get_legend_handles_labels()
    handles, labels = handles + [handle for handle, _ in extra or []], labels + [label for _, label in extra or []]
    if handles:
        ax.legend(handles, labels, fontsize="small", ncol=2 if len(labels) > 12 else 1)


def style_key(text_solid: str, text_dashed: str) -> list:
    """Legend entries (handle, label) saying what solid and dashed lines are."""
    return [(Line2D([], [], color="black", linestyle="-"), text_solid),
            (Line2D([], [], color="black", linestyle="--"), text_dashed)]


def plot_curves(df, ax, metric: str = "acc", *, legend: bool = True) -> None:
    """Training (dashed) and validation (solid) `metric` ("acc" or "loss") per epoch, one colour per
    `curve` (frames.curves: a run, or the mean over a setting's seeds)."""
    for index, (curve, rows) in enumerate(df.groupby("curve", sort=False)):
        rows = rows.sort_values("epoch")
        ax.plot(values(rows, "epoch"), values(rows, f"val_{metric}"), color=line_color(index), marker="o", markersize=2, label=curve)
        ax.plot(values(rows, "epoch"), values(rows, metric), color=line_color(index), linestyle="--", linewidth=1)
    both = df[[metric, f"val_{metric}"]].to_numpy(dtype=np.float64)
    if metric == "loss" and np.all(both[np.isfinite(both)] > 0):
        ax.set_yscale("log")  # a run on its way to diverging spans decades
    ax.set_title(f"{METRIC_NAMES[metric]} per epoch: validation solid, train dashed", fontsize="medium")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(METRIC_NAMES[metric])
    ax.grid(alpha=0.3)
    if legend:
        _legend(ax, style_key("validation", "train"))


def plot_depth_robustness(df, ax) -> None:
    """Poster, accuracy against depth: test (solid, error bars: std over seeds) and train (dashed)
    accuracy of each method against depth, log x (frames.depth_robustness)."""
    lines = df[DEPTH_LINE].drop_duplicates().reset_index(drop=True)
    for index, (label, (_, line)) in enumerate(zip(describe(lines, DEPTH_LINE), lines.iterrows())):
        rows = df[(df[DEPTH_LINE] == line).all(axis=1)].sort_values("depth")
        ax.errorbar(values(rows, "depth"), values(rows, "test_acc_mean"), yerr=np.nan_to_num(values(rows, "test_acc_std")),
                    color=line_color(index), marker="o", capsize=3, label=label)
        ax.plot(values(rows, "depth"), values(rows, "train_acc_mean"), color=line_color(index), linestyle="--", linewidth=1)
    _log_axis(ax, df["depth"])
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("accuracy against depth: test solid (± std over seeds), train dashed", fontsize="medium")
    ax.set_xlabel("depth (layers)")
    ax.set_ylabel("accuracy of the best-validation checkpoint")
    _legend(ax, style_key("test", "train"))


def plot_lr_robustness(df, ax) -> None:
    """Poster, robustness to the learning rate: % of seeds that complete reach_epoch epochs without
    diverging against the LR, log x; one colour per method, solid without warmup, dashed with
    (frames.lr_robustness)."""
    lines = df[LR_LINE].drop_duplicates().reset_index(drop=True)
    for index, (label, (_, line)) in enumerate(zip(describe(lines, LR_LINE), lines.iterrows())):
        rows = df[(df[LR_LINE] == line).all(axis=1)]
        for warmup, dashes in ((False, "-"), (True, "--")):
            points = rows[rows["warmup"] == warmup].sort_values("lr")
            if len(points):
                ax.plot(values(points, "lr"), 100.0 * values(points, "fraction"), color=line_color(index), linestyle=dashes, marker="o",
                        label=label + (" + warmup" if warmup else ""))
    _log_axis(ax, df["lr"])
    ax.set_ylim(-3, 103)
    epochs = sorted(set(df["reach_epoch"]))
    ax.set_title(f"seeds that complete {', '.join(map(str, epochs))} epochs without diverging: "
                 "no warmup solid, warmup dashed", fontsize="medium")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("% of seeds")
    _legend(ax)
