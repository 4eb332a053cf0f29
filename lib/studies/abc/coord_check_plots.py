"""mup's coord-check plot (reference/weightnorm_abc.md §C7 `plot_coord_data`) from coord_check's frame.

`plot_coord_check(df, ax)` draws one step t of one parameterization: a statistic (default mup's l1)
against width on log₂–log₂ axes (mup's loglog=True, logbase=2), one line per module, the mean over
seeds with a band from the smallest to the largest seed. `draw_coord_figure(df)` puts the steps side by
side, mup's one subplot per t, with one legend and the parameterization in the title.
"""

from matplotlib.figure import Figure

SUBPLOT_SIZE = (5.0, 4.0)  # mup's subplot_width, subplot_height


def plot_coord_check(df, ax, *, y: str = "l1") -> None:
    """One panel: `y` against width for one (parameterization, t), a line per module in forward order."""
    keys = df[["parameterization", "t"]].drop_duplicates()
    if len(keys) != 1:
        raise ValueError(f"a coord-check panel draws one parameterization and step; got {len(keys)}")
    name, t = keys.iloc[0]
    order = df.drop_duplicates("module").sort_values(["layer", "kind"], key=_forward_order)["module"]
    for module in order:
        per_width = df[df["module"] == module].groupby("width")[y]
        mean, low, high = per_width.mean(), per_width.min(), per_width.max()
        line, = ax.plot(mean.index, mean.to_numpy(), marker="o", markersize=3, linewidth=1.2, label=module)
        ax.fill_between(mean.index, low.to_numpy(), high.to_numpy(), color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log", base=2)
    ax.set_xlabel("width")
    ax.set_ylabel(y)
    ax.set_title(f"{name}  t={t}", fontsize="medium")
    ax.grid(alpha=0.3, which="both")


def draw_coord_figure(df, *, y: str = "l1") -> Figure:
    """mup's coord-check figure for one parameterization: one panel per step t, shared y axis."""
    names = df["parameterization"].unique()
    if len(names) != 1:
        raise ValueError(f"a coord-check figure draws one parameterization; got {list(names)}")
    steps = sorted(df["t"].unique())
    figure = Figure(figsize=(SUBPLOT_SIZE[0] * len(steps), SUBPLOT_SIZE[1] + 0.8), layout="constrained")
    axes = figure.subplots(1, len(steps), sharey=True, squeeze=False)[0]
    for ax, t in zip(axes, steps):
        plot_coord_check(df[df["t"] == t], ax, y=y)
    first = df.iloc[0]
    seeds = df["seed"].nunique()
    figure.suptitle(f"coord check: {names[0]}, {first['n_layers']} layers {first['activation']}, SGD lr {first['lr']:g}, "
                    f"{first['dataset']} batch {first['batch_size']}, {seeds} seed{'s' if seeds > 1 else ''} "
                    f"(t = 1 at init)")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center")
    return figure


_KIND_ORDER = {"preactivation": 0, "activation": 1, "output": 2}


def _forward_order(column):
    return column.map(_KIND_ORDER) if column.name == "kind" else column
