"""Figure 1 of Arpit, Campos & Bengio (2019) drawn from the frame of lib.studies.weightnorm.figure1
(reference/weightnorm_abc.md §A6). Nothing here computes or writes.

Layout: §A6 describes a top row (WN MLP) and a bottom row (WN ResNet), each with forward and backward
ratios for m0 ∈ {200, 1000}, without saying how the four curves of a row are split into panels; here each
row has four panels, forward m0 = 200, forward m0 = 1000, backward m0 = 200, backward m0 = 1000, so that the
two widths of a direction sit side by side. The ResNet panels use §A6's y range, 0.9 to 4: He (g = 1) leaves
it within a few blocks, and a note in the panel says where and how far it goes.
"""

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

INIT_STYLES = {  # §A6's three curves
    "he_g1": {"label": "He (g = 1)", "color": "tab:red", "marker": "o"},
    "proposed_orthogonal": {"label": "Proposed (orthogonal)", "color": "tab:blue", "marker": "s"},
    # Hollow and dashed, on top: on the ResNet it coincides with the orthogonal curve, which shows through.
    "proposed_he": {"label": "Proposed (He)", "color": "tab:green", "marker": "^", "markerfacecolor": "none", "linestyle": "--"},
}
PANELS = [("forward", 200), ("forward", 1000), ("backward", 200), ("backward", 1000)]  # columns of each row
ROWS = ("mlp", "resnet")
RESNET_YLIM = (0.9, 4.0)  # §A6's ResNet axis
PANEL_SIZE = (4.2, 3.4)  # inches per axis
MLP_WIDTH_SPREAD = 50  # figure1.WIDTH_SPREAD (not imported: figure1 imports this module): widths from [m0 − 50, m0 + 50)
TITLES = {"mlp": "WN MLP, L = 20", "resnet": "WN ResNet, B = 40"}
Y_LABELS = {
    ("mlp", "forward"): r"$\Vert h^l\Vert\,/\,\Vert x\Vert$",
    ("mlp", "backward"): r"$\Vert \partial h^l\Vert\,/\,\Vert \partial h^L\Vert$",
    ("resnet", "forward"): r"$\Vert h^b\Vert\,/\,\Vert x\Vert$",
    ("resnet", "backward"): r"$\Vert \partial h^b\Vert\,/\,\Vert \partial h^B\Vert$",
}


def plot_ratio_panel(df, ax) -> None:
    """One panel: mean ± std (error bars over samples) of the ratio per layer, a curve per init; rows of
    figure1.network_frame for one network, width and direction."""
    keys = df[["network", "width", "direction"]].drop_duplicates()
    if len(keys) != 1:
        raise ValueError(f"a panel draws one network, width and direction; got {len(keys)}")
    network, width, direction = keys.iloc[0]
    for init, style in INIT_STYLES.items():
        rows = df[df["init"] == init].sort_values("layer")
        if len(rows):
            ax.errorbar(rows["layer"], rows["mean"], yerr=rows["std"], markersize=4, linewidth=1, capsize=2, **style)
    ax.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
    spread = f"widths ~U[{width - MLP_WIDTH_SPREAD}, {width + MLP_WIDTH_SPREAD})" if network == "mlp" else f"m0 = {width}"
    ax.set_title(f"{TITLES[network]}, {spread}\n{direction}", fontsize="medium")
    ax.set_xlabel("layer l" if network == "mlp" else "block b")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(Y_LABELS[network, direction])
    ax.grid(alpha=0.3)
    if network == "mlp":
        ax.set_ylim(bottom=0.0)
    else:
        ax.axhline(math.sqrt(math.e), color="0.5", linestyle="--", linewidth=1)
        # Mid-axis, where the proposed curves are halfway between 1 and √e in both directions.
        ax.text(0.5, math.sqrt(math.e), r"$\sqrt{e}$", transform=ax.get_yaxis_transform(), ha="center", va="bottom", color="0.4")
        ax.set_ylim(*RESNET_YLIM)
        _note_off_axis(df, ax, direction)


def _note_off_axis(df, ax, direction: str) -> None:
    """Name the inits whose mean leaves the ResNet's y range: from which block, and how far it goes."""
    notes = []
    for init, style in INIT_STYLES.items():
        rows = df[df["init"] == init].sort_values("layer", ascending=direction == "forward")
        above = rows[rows["mean"] > RESNET_YLIM[1]]
        if len(above):
            first, extreme = above.iloc[0], rows.iloc[-1]
            notes.append(f"{style['label']} > {RESNET_YLIM[1]:g} from block {first['layer']}\n"
                         f"(block {extreme['layer']}: {extreme['mean']:.3g})")
    if notes:
        # The corner away from where the curve leaves the axis: it leaves early forward, late (near block B) backward.
        right = direction == "forward"
        ax.text(0.97 if right else 0.03, 0.97, "\n".join(notes), transform=ax.transAxes, ha="right" if right else "left", va="top",
                fontsize="small", bbox={"facecolor": "white", "edgecolor": "0.7", "alpha": 0.9})


def plot_figure1(df, axes) -> None:
    """Figure 1 on a 2×4 grid of axes (`axes[row][column]`): MLP on top, ResNet below; columns as PANELS."""
    for row, network in enumerate(ROWS):
        for column, (direction, width) in enumerate(PANELS):
            rows = df[(df["network"] == network) & (df["width"] == width) & (df["direction"] == direction)]
            plot_ratio_panel(rows, axes[row][column])


def draw_figure1(df) -> Figure:
    """The whole figure: the eight panels, one legend, and a title naming the sample count."""
    figure = Figure(figsize=(PANEL_SIZE[0] * len(PANELS), PANEL_SIZE[1] * len(ROWS) + 0.6), layout="constrained")
    axes = figure.subplots(len(ROWS), len(PANELS))
    plot_figure1(df, axes)
    samples = np.unique(df["samples"])
    figure.suptitle("Figure 1 (Arpit, Campos & Bengio 2019): norm ratios through weight-normalized ReLU networks at "
                    f"initialization, mean ± std over {', '.join(str(s) for s in samples)} samples")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(labels))
    return figure
