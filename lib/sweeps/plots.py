"""`analyze SWEEP_DIR`'s figure as `plot_comparison(df, ax, column)`: one frame of lib.sweeps.frames
on one matplotlib axis. Nothing here writes a file."""

import numpy as np

from lib.sweeps.frames import label


def plot_comparison(df, ax, column: str, info: dict) -> None:
    """`column`'s mean over seeds per configuration (frames.aggregate) as horizontal bars, ± one standard
    deviation, in plan order from the top; a configuration without a value is drawn as an empty row."""
    means = df[f"{column}_mean"].to_numpy(dtype=np.float64)
    stds = np.nan_to_num(df[f"{column}_std"].to_numpy(dtype=np.float64))
    rows = np.arange(len(df))
    ax.barh(rows, np.nan_to_num(means), xerr=stds, color="tab:blue", alpha=0.8, ecolor="black", capsize=3)
    ax.set_yticks(rows, [f"{label(row, info)} (n={row['runs'] - row['unfinished']})" for _, row in df.iterrows()], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(f"{column}, mean ± std over seeds")
    ax.grid(axis="x", alpha=0.3)
