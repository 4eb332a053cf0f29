"""`experiment.py analyze` on diversity-study runs: the learned activations at chosen outer steps,
their diversification, the metalearning curves, the pure / diverse / base comparison, and
summary.csv (reference/diversity.md §1.8, §2.3, §5).

Every run is read and every frame built before anything is written, so a bad run directory, h5
file or --activation_steps value stops the report with one UsageError and no output folder.
"""

from matplotlib.figure import Figure

from lib.analysis.files import default_out, write_report_files
from lib.studies.diversity import frames, plots

LEARNED_FILE = "learned_activations.png"
DIVERSIFICATION_FILE = "diversification.png"
OUTER_LOSS_FILE = "outer_loss.png"
TEST_ACCURACY_FILE = "test_accuracy.png"
COMPARISON_FILE = "comparison.png"
SUMMARY_FILE = "summary.csv"
PANEL_SIZE = (5.2, 4.2)  # inches per axis: legible labels side by side at DPI
CURVE_SIZE = (7.0, 4.4)  # one axis holding every run's curve


def build_frames(runs: list[frames.DiversityRun], steps: tuple[int, ...] | None) -> dict:
    built = {"history": frames.history(runs), "distance": frames.pairwise_distance(runs),
             "comparison": frames.comparison(runs)}
    built["steps"] = frames.chosen_steps(runs, steps)
    built["learned"] = frames.learned_functions(runs, built["steps"])
    built["summary"] = frames.summary(runs, built["history"], built["distance"], built["comparison"])
    return built


def draw_learned(learned, steps: dict[str, tuple[int, ...]]) -> Figure:
    """One row per run, one panel per chosen step."""
    columns = max(len(chosen) for chosen in steps.values())
    figure = Figure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * len(steps)), layout="constrained")
    axes = figure.subplots(len(steps), columns, squeeze=False)
    for row, (label, chosen) in enumerate(steps.items()):
        for column in range(columns):
            if column < len(chosen):
                rows = learned[(learned["run"] == label) & (learned["step"] == chosen[column])]
                plots.plot_learned_activations(rows, axes[row, column])
            else:
                axes[row, column].set_visible(False)
    return figure


def draw_one(df, plot, size=CURVE_SIZE) -> Figure:
    figure = Figure(figsize=size, layout="constrained")
    plot(df, figure.add_subplot())
    return figure


def format_summary(summary) -> str:
    """The summary as an aligned text table (4 significant digits; '-' where a value is missing)."""
    return summary.to_string(index=False, na_rep="-", float_format=lambda value: f"{value:.4g}")


def write_report(run_dirs: list[str], out: str | None = None, *, steps=None, progress=print) -> list[str]:
    """Read the runs, then write the figures and summary.csv to `out` (default: default_out);
    `steps` are the outer steps of learned_activations.png (None: 0, the middle and the last).
    The metalearning figures need a metalearning run, comparison.png compare/ results or a
    validation run. Returns the files written."""
    runs = frames.load_diversity_runs(run_dirs)
    out = out or default_out(run_dirs)
    progress(f"analyze: {len(runs)} diversity run{'s' * (len(runs) > 1)} ({', '.join(run.label for run in runs)}) -> {out}")
    built = build_frames(runs, None if steps is None else tuple(steps))
    figures = {}
    if built["steps"]:
        figures[LEARNED_FILE] = draw_learned(built["learned"], built["steps"])
        figures[DIVERSIFICATION_FILE] = draw_one(built["distance"], plots.plot_diversification)
        figures[OUTER_LOSS_FILE] = draw_one(built["history"], plots.plot_outer_loss)
        figures[TEST_ACCURACY_FILE] = draw_one(built["history"], plots.plot_test_accuracy)
    if len(built["comparison"]):
        groups = built["comparison"]["group"].nunique()
        figures[COMPARISON_FILE] = draw_one(built["comparison"], plots.plot_comparison,
                                            (max(CURVE_SIZE[0], 2.4 * groups + 2.0), CURVE_SIZE[1]))
    return write_report_files(out, figures, SUMMARY_FILE, built["summary"],
                              "test accuracies are fractions; distance: mean over pairs of the RMS difference of the "
                              "learned f_i on the grid, at step 0 and at distance_end_step\n"
                              + format_summary(built["summary"]), progress)
