"""The abc study's figures as `plot_*(df, ax)`: one frame of lib.studies.abc.frames on one matplotlib axis.
Nothing here writes a file.

The notebook's plots (reference/weightnorm_abc.md §B5: `all_losses`, `all_outputs` per step): the
training loss and the mean |output| of the network against the SGD step, one line per run (the mean
over its trials) with a band from the lowest to the highest trial. IP-LLR with ReLU stays near the
chance loss ln 10 while GeLU, ELU and tanh train.
"""

import matplotlib
import numpy as np

from lib.studies.abc.frames import CHANCE_LOSS

LINE_STYLES = ("-", "--", ":", "-.")  # one per parameterization, in the order the runs were given
BAND_ALPHA = 0.18
QUANTITIES = {"loss": "training loss (cross-entropy, the step's batch)", "abs_output": "mean |output| (the step's batch)"}


def values(rows, column: str) -> np.ndarray:
    """A column as floats: matplotlib then draws numbers, whatever the frame's dtype."""
    return rows[column].to_numpy(dtype=np.float64)


def line_styles(df) -> dict:
    """{curve: (colour, line style)}: a colour per family (the label without the parameterization), a line
    style per parameterization where several are present."""
    families = list(dict.fromkeys(df["family"]))
    parameterizations = list(dict.fromkeys(df["parameterization"]))
    styles = {}
    for curve, rows in df.groupby("curve", sort=False):
        first = rows.iloc[0]
        colour = matplotlib.colormaps["tab10"](families.index(first["family"]) % 10)
        style = LINE_STYLES[parameterizations.index(first["parameterization"]) % len(LINE_STYLES)]
        styles[curve] = (colour, style if len(parameterizations) > 1 else "-")
    return styles


def plot_band(df, ax, column: str = "loss", *, legend: bool = True) -> None:
    """`column` ("loss" or "abs_output") against the SGD step: per curve (frames.bands) the mean over the
    run's trials, and a band from their min to their max. The loss with a line at chance (ln 10); the
    mean |output| on a log axis (IP-LLR's starts near 0: its output layer is scaled by m^-1 at init)."""
    for curve, (colour, style) in line_styles(df).items():
        rows = df[df["curve"] == curve].sort_values("step")
        step = values(rows, "step")
        ax.fill_between(step, values(rows, f"{column}_min"), values(rows, f"{column}_max"), color=colour,
                        alpha=BAND_ALPHA, linewidth=0)
        ax.plot(step, values(rows, f"{column}_mean"), color=colour, linestyle=style, linewidth=1.4, label=curve)
    if column == "loss":
        # under the runs: a run that does not train (Naive-IP) lies on it
        ax.axhline(CHANCE_LOSS, color="dimgray", linewidth=1.0, linestyle=(0, (1, 2)), zorder=1.5, label="chance (ln 10)")
    else:
        ax.set_yscale("log")
    trials = sorted(set(df["trials"].astype(int)))
    count = f"{trials[0]}" if len(trials) == 1 else f"{trials[0]}-{trials[-1]}"
    ax.set_title(f"{QUANTITIES[column].split(' (')[0]} per SGD step: line = mean over {count} trials, "
                 "band = min to max", fontsize="medium")
    ax.set_xlabel("SGD step")
    ax.set_ylabel(QUANTITIES[column])
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")
