"""The diversity study's figures as `plot_*(df, ax)`: one frame of lib.studies.diversity.frames
on one matplotlib axis. Nothing here writes a file.

The paper's claims are that the learned activations "quickly diversify" and that diverse networks
outperform their pure counterparts (reference/diversity.md §5): the learned functions at chosen
outer steps, their pairwise distance per step, the metalearning curves, and the pure / diverse /
base test accuracies.
"""

import matplotlib
import numpy as np
from matplotlib.ticker import MaxNLocator

from lib.studies.diversity.frames import arm_order

ARM_STYLE = {"diverse": {"color": "tab:red", "marker": "o"}, "base": {"color": "tab:gray", "marker": "s"}}
LEGEND_LIMIT = 10  # activations named in a legend; more only crowd the panel


def base_values(name: str, x) -> np.ndarray:
    """The base function every learned activation starts from, f_i = base + 0.2 g_i (§1.1):
    sin, tanh or ELU with alpha = 1 (torch's nn.ELU())."""
    x = np.asarray(x, dtype=np.float64)
    if name == "sin":
        return np.sin(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "elu":
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))
    raise ValueError(f"unknown base function '{name}' (sin, tanh or elu)")


def run_color(index: int):
    return matplotlib.colormaps["tab10"](index % 10)


def _step_axis(ax, label: str = "outer step") -> None:
    ax.set_xlabel(label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _run_curves(df, ax, column: str, scale: float = 1.0) -> list[str]:
    """One line per run of `column` against `step`; returns the runs without any value."""
    empty = []
    for index, (run, rows) in enumerate(df.groupby("run", sort=False)):
        rows = rows.sort_values("step")
        values = rows[column].to_numpy(dtype=np.float64) if column in rows else np.full(len(rows), np.nan)
        ax.plot(rows["step"], scale * values, marker="o", markersize=2, color=run_color(index), label=run)
        if np.isnan(values).all():
            empty.append(run)
    return empty


def _legend(ax) -> None:
    if ax.get_legend_handles_labels()[1]:  # a run stopped before its first step draws nothing
        ax.legend(fontsize="small")


def _title(ax, title: str, notes: list[str]) -> None:
    ax.set_title("\n".join([title, "; ".join(notes)]) if notes else title, fontsize="medium")


def plot_learned_activations(df, ax) -> None:
    """Every learned f_i on the grid after one outer step (rows of frames.learned_functions for
    one run and one step), with the base function dashed."""
    if df["run"].nunique() != 1 or df["step"].nunique() != 1:
        raise ValueError("this panel draws one run at one outer step")
    run, step, base = df["run"].iloc[0], int(df["step"].iloc[0]), df["base"].iloc[0]
    activations = sorted(df["activation"].unique())
    colors = matplotlib.colormaps["tab10" if len(activations) <= 10 else "viridis"]
    for index, activation in enumerate(activations):
        rows = df[df["activation"] == activation].sort_values("x")
        color = colors(index) if len(activations) <= 10 else colors(index / (len(activations) - 1))
        ax.plot(rows["x"], rows["f"], color=color, label=f"$f_{{{activation}}}$")
    grid = np.sort(df["x"].unique())
    ax.plot(grid, base_values(base, grid), color="black", linestyle="--", linewidth=1.2, label=f"base: {base}")
    ax.set_title(f"{run}: " + ("initial functions (step 0)" if step == 0 else f"after outer step {step}"),
                 fontsize="medium")
    ax.set_xlabel("x")
    ax.set_ylabel(r"$f_i(x) = \mathrm{base}(x) + 0.2\,g_i(x)$")
    ax.grid(alpha=0.3)
    if len(activations) <= LEGEND_LIMIT:
        ax.legend(fontsize="small")


def plot_diversification(df, ax) -> None:
    """Mean over pairs i < j of the RMS difference of f_i and f_j on the grid, per outer step, one
    line per run (frames.pairwise_distance); a run with one activation has no pair."""
    single = _run_curves(df, ax, "distance")
    _title(ax, "diversification of the learned activations", [f"n = 1, no pair: {run}" for run in single])
    ax.set_ylabel(r"mean over pairs of RMS$_x(f_i - f_j)$")
    ax.set_ylim(bottom=0.0)
    _step_axis(ax, "outer step (0 = initial functions)")
    _legend(ax)


def plot_outer_loss(df, ax) -> None:
    """The outer loss (mean inner training loss of the step) per outer step (frames.history)."""
    _run_curves(df, ax, "outer_loss")
    ax.set_title("outer loss", fontsize="medium")
    ax.set_ylabel("mean inner training loss")
    _step_axis(ax)
    _legend(ax)


def plot_test_accuracy(df, ax) -> None:
    """Test accuracy % of the classifier trained in each outer step (frames.history's test_acc)."""
    _run_curves(df, ax, "test_acc", scale=100.0)
    ax.set_title("test accuracy after each outer step's inner training", fontsize="medium")
    ax.set_ylabel("test accuracy (%)")
    _step_axis(ax)
    _legend(ax)


def arm_style(arm: str, pure_arms: int) -> dict:
    """diverse red circles, base gray squares, pure k blue triangles (lighter for larger k)."""
    if arm in ARM_STYLE:
        return ARM_STYLE[arm]
    _, k, _ = arm_order(arm)
    shade = 0.9 - 0.5 * (k - 1) / max(pure_arms - 1, 1) if k else 0.6
    return {"color": matplotlib.colormaps["Blues"](shade), "marker": "^"}


def plot_comparison(df, ax) -> None:
    """Mean test accuracy % with standard-deviation error bars of each arm (pure k, diverse,
    base), one group per run along x (frames.comparison)."""
    groups = list(dict.fromkeys(df["group"]))
    arms = sorted(df["arm"].unique(), key=arm_order)
    pure_arms = sum(arm_order(arm)[0] == 0 for arm in arms)
    labelled = set()
    for position, group in enumerate(groups):
        rows = df[df["group"] == group]
        rows = rows.iloc[sorted(range(len(rows)), key=lambda row: arm_order(rows["arm"].iloc[row]))]
        offsets = np.linspace(-0.3, 0.3, len(rows)) if len(rows) > 1 else np.zeros(1)
        for offset, (_, row) in zip(offsets, rows.iterrows()):
            style = arm_style(row["arm"], pure_arms)
            ax.errorbar(position + offset, 100.0 * row["test_acc_mean"], yerr=100.0 * np.nan_to_num(row["test_acc_std"]),
                        linestyle="none", capsize=3, markersize=6, **style,
                        label=row["arm"] if row["arm"] not in labelled else "_nolegend_")
            labelled.add(row["arm"])
    ax.set_xticks(range(len(groups)), groups, rotation=15 if len(groups) > 2 else 0, fontsize="small")
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_title("pure vs diverse vs base: mean test accuracy ± std over runs", fontsize="medium")
    ax.set_ylabel("test accuracy (%)")
    ax.grid(alpha=0.3, axis="y")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda index: arm_order(labels[index]))
    ax.legend([handles[index] for index in order], [labels[index] for index in order], fontsize="small", title="arm")
