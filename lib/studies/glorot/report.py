"""`experiment.py analyze`: the frames of some runs, one PNG per paper figure, and summary.csv.

Every frame is built before anything is written, so a bad run directory or h5 file stops the
report with one error and no partial output.
"""

import math

from matplotlib.figure import Figure

from lib.analysis.files import default_out, write_report_files
from lib.studies.glorot import frames, plots

# Layouts: one axis for all runs, or one axis per run side by side. Per-run axes share their
# y scale where all runs' values live in one range (activations), not for gradients, whose
# scale differs by orders of magnitude between standard and normalized init.
ONE_AXIS, PER_RUN_SHARED, PER_RUN = "one axis", "per run, shared axes", "per run"
FIGURES = [  # (file, frame, plot function, layout)
    ("fig2_activation_mean_std.png", "activation_stats", plots.plot_activation_mean_std, PER_RUN_SHARED),
    ("fig3_activation_p98_std.png", "activation_stats", plots.plot_activation_percentile_std, PER_RUN_SHARED),
    ("fig4_activation_hist_end.png", "activation_histograms_end", plots.plot_histograms, PER_RUN_SHARED),
    ("fig6_activation_hist_init.png", "activation_histograms_init", plots.plot_histograms, PER_RUN_SHARED),
    ("fig7_backprop_gradient_hist_init.png", "backprop_histograms_init", plots.plot_histograms, PER_RUN),
    ("fig8_weight_gradient_hist_init.png", "weight_gradient_histograms_init", plots.plot_histograms, PER_RUN),
    ("fig9_weight_gradient_std.png", "weight_gradient_spread", plots.plot_weight_gradient_std, PER_RUN),
    ("fig11_test_error.png", "error_curves", plots.plot_error_curves, ONE_AXIS),
    ("jacobian_singular_values.png", "jacobian_singular_values", plots.plot_jacobian_singular_values, ONE_AXIS),
]
SUMMARY_FILE = "summary.csv"
PANEL_SIZE = (5.6, 4.4)  # inches per axis: legible labels side by side at DPI
MAX_COLUMNS = 3


def build_frames(runs: list[frames.Run], *, epoch: int | None, jacobian_examples: int, progress=print) -> dict:
    """Every frame the figures and the summary need; `epoch` is Fig. 4's (None: each run's last)."""
    progress("reading activations and weight gradients of every record")
    built = {"activation_stats": frames.activation_stats(runs),
             "weight_gradient_spread": frames.weight_gradient_spread(runs),
             "error_curves": frames.error_curves(runs)}
    progress("histograms at initialization and " + ("at the last record" if epoch is None else f"at epoch {epoch}"))
    built["activation_histograms_end"] = frames.histograms(runs, "activations", epoch)
    built["activation_histograms_init"] = frames.histograms(runs, "activations", 0)
    built["backprop_histograms_init"] = frames.histograms(runs, "backprop_gradients", 0)
    built["weight_gradient_histograms_init"] = frames.histograms(runs, "weight_gradients", 0)
    progress(f"Jacobian singular values at initialization ({jacobian_examples} examples per layer)")
    built["jacobian_singular_values"] = frames.jacobian_singular_values(runs, 0, jacobian_examples)
    built["summary"] = frames.summary(runs, jacobians=built["jacobian_singular_values"])
    return built


def draw(df, plot, labels: list[str], layout: str) -> Figure:
    if layout == ONE_AXIS:
        figure = Figure(figsize=(PANEL_SIZE[0] * 1.3, PANEL_SIZE[1]), layout="constrained")
        plot(df, figure.add_subplot())
        return figure
    columns = min(len(labels), MAX_COLUMNS)
    rows = math.ceil(len(labels) / columns)
    figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False, sharey=layout == PER_RUN_SHARED).ravel()
    for ax, label in zip(axes, labels):
        plot(df[df["run"] == label], ax)
        ax.tick_params(labelleft=True)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    return figure


def format_summary(summary) -> str:
    """The summary as an aligned text table (4 significant digits)."""
    return summary.to_string(index=False, float_format=lambda value: f"{value:.4g}")


def write_report(run_paths: list[str], out: str | None = None, *, epoch: int | None = None,
                 jacobian_examples: int = frames.DEFAULT_JACOBIAN_EXAMPLES, progress=print) -> list[str]:
    """Read the runs, then write every figure and summary.csv to `out`; returns the files written."""
    runs = frames.load_runs(run_paths)
    out = out or default_out(run_paths)
    progress(f"analyze: {len(runs)} run{'s' * (len(runs) > 1)} ({', '.join(run.label for run in runs)}) -> {out}")
    built = build_frames(runs, epoch=epoch, jacobian_examples=jacobian_examples, progress=progress)
    labels = [run.label for run in runs]
    figures = {name: draw(built[frame], plot, labels, layout) for name, frame, plot, layout in FIGURES}
    return write_report_files(out, figures, SUMMARY_FILE, built["summary"],
                              "per hidden layer at initialization; final_error_percent after the last epoch\n"
                              + format_summary(built["summary"]), progress)
