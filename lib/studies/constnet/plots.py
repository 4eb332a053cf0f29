"""The correlation figures of the constnet study as `plot_*(df, ax)`: one frame of
lib.studies.constnet.frames on one matplotlib axis. Nothing here writes a file.

Infinite values are drawn, never dropped: -ln|rho| = +inf (rho = 0) as a triangle on the
axis' top edge, Diversity = -inf (some layer's channels identical) as one on the bottom edge,
each with a note saying so.
"""

import math

import matplotlib
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

MEASURE_TITLES = {
    "forward": "(a) forward: weight correlation of output filters",
    "backward": "(b) backward: weight correlation of input channels",
    "kernels": "single-kernel weight correlation",
    "activations": "(c) activations: correlation of block output channels",
}
PROFILE_LABELS = {  # measure: (x axis, title) of a per-layer panel
    "forward": ("weight layer", "forward weight correlation per layer"),
    "backward": ("weight layer", "backward weight correlation per layer"),
    "activations": ("block output", "activation correlation per block"),
}
EDGE_ROW = 0.035  # axes fraction between rows of edge triangles (one row per run)
MINUS_LOG_RHO = r"$-\ln|\bar\rho|$"
# Initialization on top, hollow: where training changed nothing (ConstNet without noise) both stay visible.
INIT_STYLE = {"color": "tab:gray", "linestyle": "--", "marker": "o", "markerfacecolor": "none", "zorder": 3}
END_STYLE = {"color": "tab:blue", "linestyle": "-", "marker": "o"}


def run_color(index: int):
    return matplotlib.colormaps["Dark2"](index % 8)


def _epoch_axis(ax) -> None:
    ax.set_xlabel("epoch (0 = initialization)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)


def _fit_y(ax, values, *, nothing_finite=(-0.05, 1.0), edge_rows: int = 0, edge_sign: int = +1) -> None:
    """Y limits that hold every finite value and 0 (identical channels for -ln|rho|, no
    correlation for Diversity) with a margin, so points at 0 do not hide under the spine.
    Symlog where finite nonzero magnitudes span more than two decades (ConstNet near 0 beside
    random init near 10), so that both stay visible; linear otherwise."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        ax.set_ylim(*nothing_finite)
        return
    low, high = min(finite.min(), 0.0), max(finite.max(), 0.0)
    magnitudes = np.abs(finite[finite != 0])
    if len(magnitudes) and magnitudes.max() > 100 * magnitudes.min():
        linthresh = 10.0 ** math.floor(math.log10(magnitudes.min()))
        ax.set_yscale("symlog", linthresh=linthresh, linscale=0.5)
        ax.set_ylim(low * 2 if low < 0 else -0.5 * linthresh, high * 2 if high > 0 else 0.5 * linthresh)
    elif high == low:
        ax.set_ylim(*nothing_finite)
    else:
        margin = 0.05 * (high - low)
        ax.set_ylim(low - margin, high + margin)
    if edge_rows and len(finite):
        _clear_edge_band(ax, EDGE_ROW * (edge_rows + 0.6) + 0.02, edge_sign)


def _clear_edge_band(ax, band: float, sign: int) -> None:
    """Widen the y range so that the outer `band` (axes fraction) at the top (+1) or bottom (-1)
    holds no data, only the edge triangles."""
    scale = ax.yaxis.get_transform()
    low, high = scale.transform(np.array(ax.get_ylim(), dtype=np.float64))
    extra = band * (high - low) / (1.0 - band)
    low, high = (low, high + extra) if sign > 0 else (low - extra, high)
    ax.set_ylim(*scale.inverted().transform(np.array([low, high])))
    # Shaded, so that the band reads as "infinite" rather than as the values its ticks name.
    ax.add_patch(Rectangle((0.0, 1.0 - band if sign > 0 else 0.0), 1.0, band, transform=ax.transAxes,
                           facecolor="0.9", edgecolor="none", zorder=0))


def _title(ax, title: str, notes: list[str]) -> None:
    """The panel title, with notes (what the edge triangles mean, unmeasured runs) on a second line."""
    ax.set_title("\n".join([title, "; ".join(notes)]) if notes else title, fontsize="medium")


def _mark_infinite(ax, x, y, color, sign: int, row: int = 0) -> bool:
    """Triangles on the top (+inf) or bottom (-inf) edge at the x of each infinite y, True if any.
    Each run gets its own row along the edge (`row`), so runs infinite at the same epoch all show."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    at = np.isinf(y) & (np.sign(y) == sign)
    if at.any():
        inset = EDGE_ROW * (row + 0.6)  # inside the axis, clear of the spine and its tick labels
        edge = 1.0 - inset if sign > 0 else inset
        ax.plot(x[at], np.full(at.sum(), edge), linestyle="none", color=color, clip_on=False, zorder=4,
                marker="^" if sign > 0 else "v", markersize=8, transform=ax.get_xaxis_transform(), label="_nolegend_")
    return bool(at.any())


def _run_curves(df, ax, column: str, infinite_sign: int) -> tuple[int, list[str]]:
    """One line per run (finite points), a row of triangles for its infinite points;
    returns (rows of triangles drawn, runs without any value)."""
    marked_rows, unmeasured = 0, []
    for index, (run, rows) in enumerate(df.groupby("run", sort=False)):
        rows = rows.sort_values("epoch")
        y = rows[column].to_numpy(dtype=np.float64)
        ax.plot(rows["epoch"], np.where(np.isfinite(y), y, np.nan), marker="o", markersize=3, color=run_color(index),
                label=run)
        marked_rows += _mark_infinite(ax, rows["epoch"], y, run_color(index), infinite_sign, row=marked_rows)
        if np.isnan(y).all():
            unmeasured.append(run)
    return marked_rows, unmeasured


def _finish(ax, legend: bool) -> None:
    _epoch_axis(ax)
    if legend:
        ax.legend(fontsize="small")


def plot_mean_correlation(df, ax, *, legend: bool = True) -> None:
    """Panels (a)-(c): mean over layers of -ln|rho| per epoch, one line per run; rows of
    correlation_frames.mean_over_layers for one measure."""
    measures = df["measure"].unique()
    if len(measures) != 1:
        raise ValueError(f"this panel draws one measure; got {list(measures)}")
    marked_rows, unmeasured = _run_curves(df, ax, "minus_log_rho", +1)
    notes = (["▲ along the top edge: +∞, some layer has ρ̄ = 0"] if marked_rows else []) \
        + [f"not measured: {run}" for run in unmeasured]
    _title(ax, MEASURE_TITLES.get(measures[0], measures[0]), notes)
    ax.set_ylabel(f"mean over layers of {MINUS_LOG_RHO}\n(0 = identical channels)")
    _fit_y(ax, df["minus_log_rho"], edge_rows=marked_rows, edge_sign=+1)
    _finish(ax, legend)


def plot_diversity(df, ax, *, legend: bool = True) -> None:
    """Panel (d): Diversity = sum over layers of ln sqrt(1 - rho_bwd^2) per epoch, one line per run
    (rows of correlation_frames.diversity_curves); -inf is drawn on the bottom edge."""
    marked_rows, unmeasured = _run_curves(df, ax, "diversity", -1)
    notes = (["▼ along the bottom edge: −∞, some layer has identical channels"] if marked_rows else []) \
        + [f"not measured: {run}" for run in unmeasured]
    _title(ax, "(d) Diversity", notes)
    ax.set_ylabel(r"Diversity $= \sum_l \ln\sqrt{1-\bar\rho_{\mathrm{bwd}}^2}$")
    _fit_y(ax, df["diversity"], nothing_finite=(-1.0, 0.05), edge_rows=marked_rows, edge_sign=-1)
    _finish(ax, legend)


def plot_test_accuracy(df, ax, *, legend: bool = True) -> None:
    """Panel (e): test accuracy % after each epoch, one line per run (correlation_frames.accuracy_curves)."""
    _run_curves(df, ax, "test_acc", +1)
    ax.set_title("(e) test accuracy", fontsize="medium")
    ax.set_ylabel("test accuracy (%)")
    _epoch_axis(ax)
    ax.set_xlabel("epoch")
    if legend:
        ax.legend(fontsize="small")


def short_layer_name(name: str) -> str:
    """group2_block0_shortcut -> g2.b0 shortcut: tick labels that fit under a 17-layer axis."""
    return name.replace("group", "g").replace("_block", ".b").replace("_", " ")


def plot_layer_profile(df, ax) -> None:
    """-ln|rho| per layer (or block) in network order, at initialization and at the last
    measured epoch; rows of correlation_frames.layer_correlations for one run and one measure."""
    if df["run"].nunique() != 1 or df["measure"].nunique() != 1:
        raise ValueError("this panel draws one run and one measure")
    run, measure = df["run"].iloc[0], df["measure"].iloc[0]
    first, last = int(df["epoch"].min()), int(df["epoch"].max())
    marked_rows = 0
    for epoch, style in ((first, INIT_STYLE), (last, END_STYLE))[: 1 + (last != first)]:
        rows = df[df["epoch"] == epoch].sort_values("position")
        y = rows["minus_log_rho"].to_numpy(dtype=np.float64)
        label = "initialization" if epoch == 0 else f"epoch {epoch}"
        if epoch == last and last != first:
            label = f"epoch {epoch} (last)"
        ax.plot(rows["position"], np.where(np.isfinite(y), y, np.nan), markersize=4, label=label, **style)
        marked_rows += _mark_infinite(ax, rows["position"], y, style["color"], +1, row=marked_rows)
    layers = df.drop_duplicates("position").sort_values("position")
    ax.set_xticks(layers["position"], [short_layer_name(name) for name in layers["layer"]], rotation=90,
                  fontsize="x-small")
    _fit_y(ax, df["minus_log_rho"], edge_rows=marked_rows, edge_sign=+1)
    what, title = PROFILE_LABELS.get(measure, (measure, measure))
    ax.set_xlabel(what + ("; g = group, b = block" if layers["layer"].str.startswith("group").any() else ""))
    ax.set_ylabel(MINUS_LOG_RHO + " (0 = identical channels)")
    measured = df["minus_log_rho"].dropna()
    notes = (["▲ along the top edge: +∞, ρ̄ = 0"] if marked_rows else []) \
        + (["not measured (NaN)"] if measured.empty else []) \
        + (["identical channels everywhere"] if len(measured) and (measured == 0).all() else [])
    _title(ax, f"{run}: {title}", notes)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best")
