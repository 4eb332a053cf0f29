"""The figures of Glorot & Bengio (2010) as `plot_*(df, ax)`: draw one frame of lib.studies.glorot.frames
on one matplotlib axis. Nothing here picks a backend or writes a file (lib.studies.glorot.report does).

Per-run figures (Figs. 2, 3, 4, 6-9) take the rows of one run; hidden layer i has the same
colour in every figure (`layer_color`), and runs have their own palette (`run_color`).
"""

import matplotlib
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

PAPER_SINGULAR_VALUES = {"standard": 0.5, "normalized": 0.8}  # §4.2.2, tanh at initialization
HISTOGRAM_TITLES = {
    "activations": ("Fig. 6", "Fig. 4", "activation values"),
    "backprop_gradients": ("Fig. 7", "Fig. 7", "back-propagated gradients ∂C/∂s"),
    "weight_gradients": ("Fig. 8", "Fig. 8", "weight gradients ∂L/∂W"),
}


def layer_color(layer: int):
    return matplotlib.colormaps["tab10"](int(layer - 1) % 10)


def run_color(index: int):
    return matplotlib.colormaps["Dark2"](index % 8)


def _one_run(df) -> str:
    runs = df["run"].unique()
    if len(runs) != 1:
        raise ValueError(f"this figure is drawn per run; got rows of {len(runs)} runs")
    return runs[0]


def _layers(df):
    return [(int(layer), rows) for layer, rows in df.groupby("layer", sort=True)]


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch (0 = initialization)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _layer_legend(ax, handles=None) -> None:
    """Outside the axis, on the right: it never hides a curve."""
    ax.legend(handles=handles, title="hidden\nlayer", fontsize="small", title_fontsize="small", loc="upper left",
              bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def plot_activation_mean_std(df, ax) -> None:
    """Fig. 2: mean (markers) and standard deviation (bars) of each hidden layer's activations
    over training; rows of frames.activation_stats for one run."""
    run = _one_run(df)
    layers = _layers(df)
    span = np.ptp(df["epoch"]) or 1
    every = -(-df["epoch"].nunique() // 12)  # at most 12 bars per layer stay readable
    for k, (layer, rows) in enumerate(layers):
        shift = (k - (len(layers) - 1) / 2) * 0.012 * span  # side by side, so bars do not hide each other
        ax.errorbar(rows["epoch"] + shift, rows["mean"], yerr=rows["std"], errorevery=every, color=layer_color(layer),
                    marker="o", markersize=4, linewidth=1, capsize=3, label=str(layer))
    _epoch_axis(ax)
    ax.set_ylabel("activation value (mean ± std)")
    ax.set_title(f"Fig. 2: mean and std of activations per layer\n{run}")
    _layer_legend(ax)


def plot_activation_percentile_std(df, ax) -> None:
    """Fig. 3 (and Fig. 10 for normalized init): 98th percentile (markers alone) and standard
    deviation (lines) of each hidden layer's activations over training; rows of
    frames.activation_stats for one run."""
    run = _one_run(df)
    for layer, rows in _layers(df):
        color = layer_color(layer)
        ax.plot(rows["epoch"], rows["p98"], linestyle="none", marker="^", markersize=7, color=color)
        ax.plot(rows["epoch"], rows["std"], marker=".", color=color, label=str(layer))
    _epoch_axis(ax)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("activation value")
    ax.set_title(f"Fig. 3/10: 98th percentile and std of activations\n{run}")
    handles, _ = ax.get_legend_handles_labels()
    styles = [Line2D([], [], color="grey", linestyle="none", marker="^", label="98th pct"),
              Line2D([], [], color="grey", marker=".", label="std")]
    _layer_legend(ax, handles + styles)


def plot_histograms(df, ax) -> None:
    """Figs. 4, 6, 7, 8: normalized histograms of one kind, one curve per hidden layer; rows of
    frames.histograms for one run (the title follows the kind and epoch)."""
    run = _one_run(df)
    kind, epoch = df["kind"].iloc[0], int(df["epoch"].iloc[0])
    at_init, later, quantity = HISTOGRAM_TITLES[kind]
    for layer, rows in _layers(df):
        ax.plot(rows["center"], rows["density"], color=layer_color(layer), linewidth=1.3, label=str(layer))
    when = "at initialization" if epoch == 0 else f"at epoch {epoch}"
    ax.set_title(f"{at_init if epoch == 0 else later}: {quantity} {when}\n{run}")
    ax.set_xlabel(quantity)
    ax.set_ylabel("density")
    ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    _layer_legend(ax)


def plot_weight_gradient_std(df, ax) -> None:
    """Fig. 9: standard deviation of each hidden layer's weight gradients dL/dW over training;
    rows of frames.weight_gradient_spread for one run (log scale where layers differ by over 10x)."""
    run = _one_run(df)
    for layer, rows in _layers(df):
        ax.plot(rows["epoch"], rows["std"], marker="o", markersize=4, color=layer_color(layer), label=str(layer))
    _epoch_axis(ax)
    if df["std"].max() > 10 * df["std"].min():
        ax.set_yscale("log")
    else:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.set_ylabel("std of ∂L/∂W")
    ax.set_title(f"Fig. 9: spread of weight gradients per layer\n{run}")
    _layer_legend(ax)


def plot_error_curves(df, ax) -> None:
    """Fig. 11: error % during training, one line per run (rows of frames.error_curves)."""
    for index, (run, rows) in enumerate(df.groupby("run", sort=False)):
        label = run if rows["split"].iloc[0] == "test" else f"{run} (validation)"
        ax.plot(rows["epoch"], rows["error"], marker="o", markersize=3, color=run_color(index), label=label)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test error (%)")
    ax.set_title("Fig. 11: test error during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_jacobian_singular_values(df, ax) -> None:
    """§4.2.2: mean singular value of each hidden layer's Jacobian dz_i/dz_(i-1), one bar per run,
    with the paper's values for standard (0.5) and normalized (0.8) init as reference lines;
    rows of frames.jacobian_singular_values."""
    runs = list(df["run"].unique())
    width = 0.8 / len(runs)
    for index, run in enumerate(runs):
        rows = df[df["run"] == run]
        x = rows["layer"] + (index - (len(runs) - 1) / 2) * width
        ax.bar(x, rows["mean_singular_value"], width=width, yerr=rows["std"], capsize=2, color=run_color(index), label=run)
    for init, value in PAPER_SINGULAR_VALUES.items():
        ax.axhline(value, color="dimgrey", linestyle="--" if init == "standard" else ":", linewidth=1.3,
                   label=f"paper (tanh), {init} init ≈ {value}")
    epoch = int(df["epoch"].iloc[0])
    ax.set_xticks(sorted(df["layer"].unique()))
    ax.set_xlabel(r"hidden layer $i$ (Jacobian $\partial z_i / \partial z_{i-1}$; layer 1: from the input)")
    ax.set_ylabel("mean singular value")
    ax.set_ylim(0, max(1.0, float((df["mean_singular_value"] + df["std"]).max()) * 1.1))
    ax.set_title("§4.2.2: Jacobian mean singular values " + ("at initialization" if epoch == 0 else f"at epoch {epoch}"))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
