"""`write_weightnorm_report`: `experiment.py analyze` on weightnorm-study runs. The training curves,
the poster's robustness figures from several runs, accuracy against depth per init and the
fraction of seeds that did not diverge against the LR, with and without warmup, and the
Hessian's log spectral norm at init of --hessian runs (reference/weightnorm_abc.md §A7).

Every run is read and every frame built before anything is written, so a bad run directory stops
the report with one UsageError and no output folder.
"""

import os

from matplotlib.figure import Figure

from lib.analysis.files import default_out, write_figures
from lib.errors import UsageError
from lib.studies.weightnorm import frames, plots

CURVES_FILE = "curves.png"
DEPTH_FILE = "depth_robustness.png"
LR_FILE = "lr_robustness.png"
SUMMARY_FILE = "summary.csv"
DEPTH_TABLE = "depth_robustness.csv"
LR_TABLE = "lr_robustness.csv"
HESSIAN_TABLE = "hessian.csv"
PANEL_SIZE = (7.0, 4.6)  # inches per axis: room for a legend of several methods at DPI
CURVE_RUNS = 8  # more runs than this are drawn as the mean of each setting over its seeds
PRINTED_RUNS = 20  # more runs than this are printed as counts per status, the tables in full
NAMED_RUNS = 4  # runs named per reason they are left out of a robustness table; more are counted
PRINTED_COLUMNS = ["run", "method", "depth", "lr", "warmup", "seed", "status", "epochs_completed", "reached",
                   "best_val_acc", "test_acc", "log_spectral_norm"]


def build_frames(runs: list[frames.WeightnormRun], reach_epoch: int) -> dict:
    summary = frames.summary(runs, reach_epoch)
    per_epoch = frames.history(runs, summary)
    by = "run" if per_epoch["run"].nunique() <= CURVE_RUNS else "setting"
    return {"summary": summary, "curves": frames.curves(per_epoch, by), "depth": frames.depth_robustness(summary),
            "lr": frames.lr_robustness(summary), "hessian": frames.hessian(summary), "left_out": frames.left_out(summary)}


def draw_one(df, plot) -> Figure:
    figure = Figure(figsize=PANEL_SIZE, layout="constrained")
    plot(df, figure.add_subplot())
    return figure


def draw_curves(df) -> Figure:
    """Accuracy beside loss, the legend of both on the right."""
    figure = Figure(figsize=(2 * PANEL_SIZE[0] + 3.0, PANEL_SIZE[1]), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, metric in zip(axes, ("acc", "loss")):
        plots.plot_curves(df, ax, metric, legend=False)
    handles, labels = axes[0].get_legend_handles_labels()
    key = plots.style_key("validation", "train")
    figure.legend(handles + [handle for handle, _ in key], labels + [label for _, label in key], loc="outside right upper",
                  fontsize="small")
    return figure


def draw_figures(built: dict) -> dict:
    """{file name: Figure}: curves of the runs with a history, and each robustness figure that
    has at least two depths or learning rates to compare."""
    figures = {}
    if len(built["curves"]):
        figures[CURVES_FILE] = draw_curves(built["curves"])
    if built["depth"]["depth"].nunique() >= 2:
        figures[DEPTH_FILE] = draw_one(built["depth"], plots.plot_depth_robustness)
    if built["lr"]["lr"].nunique() >= 2:
        figures[LR_FILE] = draw_one(built["lr"], plots.plot_lr_robustness)
    return figures


def format_table(table) -> str:
    """An aligned text table (4 significant digits; '-' where a value is missing)."""
    return table.to_string(index=False, na_rep="-", float_format=lambda value: f"{value:.4g}")


def describe(built: dict, reach_epoch: int) -> str:
    """What the report prints after the files: the runs (or their count per status), each table it
    has rows for, and the runs the robustness tables leave out."""
    summary = built["summary"]
    if len(summary) <= PRINTED_RUNS:
        parts = ["runs (accuracies are fractions; test and train of the best-validation checkpoint):",
                 format_table(summary[PRINTED_COLUMNS])]
    else:
        counts = summary["status"].value_counts()
        parts = [f"{len(summary)} runs: " + ", ".join(f"{count} {state}" for state, count in counts.items())
                 + f" (every run in {SUMMARY_FILE})"]
    if len(built["depth"]):
        parts += ["test accuracy against depth (mean and std over seeds; a run that diverged before its first "
                  "checkpoint counts as 0):", format_table(built["depth"])]
    if len(built["lr"]):
        parts += [f"seeds that complete {reach_epoch} epochs without diverging, against the learning rate:",
                  format_table(built["lr"])]
    if len(built["hessian"]):
        parts += ["Hessian at init (--hessian runs; mean and std over seeds):", format_table(built["hessian"])]
    parts += [describe_left_out(built["left_out"], name) for name in ("depth", "LR")
              if (built["left_out"]["table"] == name).any()]
    return "\n".join(parts)


def describe_left_out(left_out, table: str) -> str:
    """`left out of the depth table: 1 running (a), 2 interrupted (b, c)`; runs named up to NAMED_RUNS per reason."""
    reasons = []
    for why, rows in left_out[left_out["table"] == table].groupby("why", sort=False):
        names = f" ({', '.join(rows['run'])})" if len(rows) <= NAMED_RUNS else ""
        reasons.append(f"{len(rows)} {why}{names}")
    return f"left out of the {table} table: " + ", ".join(reasons)


def write_weightnorm_report(run_dirs: list[str], out: str | None = None, progress=print, *,
                            reach_epoch: int = frames.REACH_EPOCH) -> list[str]:
    """Read the runs, then write to `out` (default: default_out) curves.png, depth_robustness.png
    (two depths or more), lr_robustness.png (two learning rates or more), summary.csv and each
    of depth_robustness.csv, lr_robustness.csv and hessian.csv that has rows; print the tables.
    `reach_epoch`: the epoch a seed must complete without diverging (the poster's 3). Returns the
    files written."""
    if reach_epoch < 1:
        raise UsageError(f"the epoch to reach without diverging must be >= 1, got {reach_epoch}")
    runs = frames.load_weightnorm_runs(run_dirs)
    out = out or default_out(run_dirs)
    progress(f"analyze: {len(runs)} weightnorm run{'s' * (len(runs) > 1)} -> {out}")
    built = build_frames(runs, reach_epoch)
    figures = draw_figures(built)
    tables = {SUMMARY_FILE: built["summary"], DEPTH_TABLE: built["depth"], LR_TABLE: built["lr"],
              HESSIAN_TABLE: built["hessian"]}
    written = write_figures(out, figures, progress)
    os.makedirs(out, exist_ok=True)
    for name, table in tables.items():
        if name == SUMMARY_FILE or len(table):
            path = os.path.join(out, name)
            table.to_csv(path, index=False)
            written.append(path)
            progress(f"wrote {path}")
    progress("\n" + describe(built, reach_epoch))
    return written
