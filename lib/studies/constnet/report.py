"""`write_correlation_report`: the weight- and activation-correlation figures of the constnet
study (reference/constnet.md §3) and a one-row-per-run summary, from recorded run directories.

Every run is read and every frame built before anything is written, so a bad run directory
or h5 file stops the report with one UsageError and no output folder.
"""

import math

from matplotlib.figure import Figure

from lib.analysis.files import default_out, write_report_files
from lib.studies.constnet import frames, plots

CORRELATIONS_FILE = "correlations.png"
LAYERS_FILE = "correlation_layers.png"
SUMMARY_FILE = "correlation_summary.csv"
PANEL_SIZE = (5.2, 4.2)  # inches per axis: legible labels side by side at DPI
LAYER_PANEL_SIZE = (5.6, 4.6)  # taller: rotated layer names under the axis
MAX_COLUMNS = 3
CURVE_MEASURES = ("forward", "backward", "activations")  # panels (a)-(c)
PROFILE_MEASURES = ("forward", "activations")  # rows of the per-layer figure


def build_frames(runs: list[frames.ConstnetRun]) -> dict:
    layers = frames.layer_correlations(runs)
    built = {"layers": layers, "means": frames.mean_over_layers(layers),
             "diversity": frames.diversity_curves(runs), "accuracy": frames.accuracy_curves(runs)}
    built["summary"] = frames.summary(runs, built["means"], built["diversity"], built["accuracy"])
    return built


def draw_correlations(built: dict) -> Figure:
    """Panels (a)-(c) mean -ln|rho| of forward, backward, activations; (d) Diversity; (e) test
    accuracy; the sixth slot holds the legend shared by all panels."""
    figure = Figure(figsize=(PANEL_SIZE[0] * 3, PANEL_SIZE[1] * 2), layout="constrained")
    axes = figure.subplots(2, 3).ravel()
    means = built["means"]
    for ax, measure in zip(axes, CURVE_MEASURES):
        plots.plot_mean_correlation(means[means["measure"] == measure], ax, legend=False)
    plots.plot_diversity(built["diversity"], axes[3], legend=False)
    plots.plot_test_accuracy(built["accuracy"], axes[4], legend=False)
    axes[5].axis("off")
    axes[5].legend(*axes[0].get_legend_handles_labels(), title="run", loc="center", fontsize="medium")
    figure.suptitle("Weight and activation correlations during training (−ln|ρ̄|: 0 = identical channels)")
    return figure


def draw_layer_profiles(built: dict, labels: list[str]) -> Figure:
    """Per run (up to MAX_COLUMNS side by side), -ln|rho| per weight layer above -ln|rho| per block."""
    columns = min(len(labels), MAX_COLUMNS)
    run_rows = math.ceil(len(labels) / columns)
    rows = run_rows * len(PROFILE_MEASURES)
    figure = Figure(figsize=(LAYER_PANEL_SIZE[0] * columns, LAYER_PANEL_SIZE[1] * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    layers = built["layers"]
    for index, label in enumerate(labels):
        for offset, measure in enumerate(PROFILE_MEASURES):
            ax = axes[(index // columns) * len(PROFILE_MEASURES) + offset, index % columns]
            rows_of_run = layers[(layers["run"] == label) & (layers["measure"] == measure)]
            if rows_of_run.empty:
                ax.set_title(f"{label}: no {measure} correlations recorded", fontsize="medium")
                ax.axis("off")
            else:
                plots.plot_layer_profile(rows_of_run, ax)
    for index in range(len(labels), run_rows * columns):
        for offset in range(len(PROFILE_MEASURES)):
            axes[(index // columns) * len(PROFILE_MEASURES) + offset, index % columns].set_visible(False)
    return figure


def format_summary(summary) -> str:
    """The summary as an aligned text table (4 significant digits; '-' where a value is missing)."""
    return summary.to_string(index=False, na_rep="-", float_format=lambda value: f"{value:.4g}")


def write_correlation_report(run_paths: list[str], out: str | None = None, *, progress=print) -> list[str]:
    """Read the runs, then write correlations.png, correlation_layers.png and
    correlation_summary.csv to `out` (default: default_out); returns the files written."""
    runs = frames.load_constnet_runs(run_paths)
    out = out or default_out(run_paths)
    labels = [run.label for run in runs]
    progress(f"correlation report: {len(runs)} run{'s' * (len(runs) > 1)} ({', '.join(labels)}) -> {out}")
    built = build_frames(runs)
    figures = {CORRELATIONS_FILE: draw_correlations(built), LAYERS_FILE: draw_layer_profiles(built, labels)}
    return write_report_files(out, figures, SUMMARY_FILE, built["summary"],
                              "test accuracy in %; forward/backward/activations: mean over layers of -ln|rho| "
                              "(0 = identical channels) at init (epoch 0) and at end_epoch\n"
                              + format_summary(built["summary"]), progress)
