"""The Hessian figures as `plot_*(df, ax)` on frames of lib.hessian.frames. Nothing here writes a file."""

import matplotlib
import numpy as np

from lib.hessian.frames import EXACT_SUFFIX

DENSITY_OFFSET = 1e-7  # added before the log axis, as PyHessian's plot: empty stretches sit at 1e-7


def run_color(index: int):
    return matplotlib.colormaps["tab10"](index % 10)


def plot_density(df, ax, title: str = "spectral density (SLQ)") -> None:
    """Density against eigenvalue on a log y axis, one curve per run (PyHessian's get_esd_plot)."""
    for index, (run, rows) in enumerate(df.groupby("run", sort=False)):
        exact = run.endswith(EXACT_SUFFIX)
        ax.semilogy(rows["eigenvalue"], rows["density"] + DENSITY_OFFSET, color="black" if exact else run_color(index),
                    linestyle=":" if exact else "-", label=run)
    ax.set_xlabel("eigenvalue")
    ax.set_ylabel("density (log scale)")
    ax.set_title(title)
    ax.set_ylim(bottom=DENSITY_OFFSET / 2)
    if df["run"].nunique() > 1:
        ax.legend(fontsize="small")


def plot_top_eigenvalues(df, ax, block: str = "all") -> None:
    """The top-k eigenvalues of `block` by rank, runs side by side; exact values as hollow circles."""
    rows = df[df["block"] == block]
    runs = list(dict.fromkeys(rows["run"]))
    width = 0.8 / max(1, len(runs))
    for index, run in enumerate(runs):
        mine = rows[rows["run"] == run]
        positions = mine["rank"].to_numpy() + (index - (len(runs) - 1) / 2) * width
        ax.bar(positions, mine["eigenvalue"], width=width, color=run_color(index), label=run)
        if mine["exact"].notna().any():
            ax.scatter(positions, mine["exact"], facecolors="none", edgecolors="black", zorder=3,
                       label="exact" if index == 0 else None)
    ax.set_xlabel("rank (1 = largest magnitude)")
    ax.set_ylabel("eigenvalue")
    ax.set_xticks(sorted(rows["rank"].unique()))
    ax.set_title("top eigenvalues (power iteration, Rayleigh-Ritz)")
    ax.legend(fontsize="small")


def plot_blocks(df, ax) -> None:
    """Per layer: the top eigenvalue and the trace of its diagonal block (log scale where all positive)."""
    layers = df[df["block"] != "all"]
    positions = np.arange(len(layers))
    ax.bar(positions - 0.2, layers["top_eigenvalue"], width=0.4, label="top eigenvalue")
    ax.bar(positions + 0.2, layers["trace"], width=0.4, yerr=layers["trace_standard_error"], label="trace")
    if (layers[["top_eigenvalue", "trace"]] > 0).all().all():
        ax.set_yscale("log")
    ax.set_xticks(positions, layers["block"], rotation=60, ha="right", fontsize="x-small")
    ax.set_title("per-layer diagonal blocks")
    ax.legend(fontsize="small")


def plot_sharpness(df, ax, column: str = "top_eigenvalue") -> None:
    """`column` (top_eigenvalue or trace) of --hessian_every's rows against the epoch, one line per run."""
    for index, (run, rows) in enumerate(df.groupby("run", sort=False)):
        error = rows["trace_standard_error"] if column == "trace" else None
        ax.errorbar(rows["epoch"], rows[column], yerr=error, color=run_color(index), marker="o", label=run)
    ax.set_xlabel("epoch (0 = initialization)")
    ax.set_ylabel({"top_eigenvalue": "top Hessian eigenvalue", "trace": "Hessian trace"}[column])
    ax.set_title({"top_eigenvalue": "sharpness over training", "trace": "trace over training (+- standard error)"}[column])
    if df["run"].nunique() > 1:
        ax.legend(fontsize="small")
