"""`write_abc_report`: `experiment.py analyze` on abc-study runs (issue 14): the results table, test
accuracy mean ± std over trials per parameterization and activation (the notebook: IP-LLR with ReLU at
chance, GeLU / ELU / tanh trained), and the notebook's plots, the training loss and the mean |output|
against the SGD step, one line per run with a band over its trials.

Every run is read and every frame built and drawn before anything is written, so a bad run directory
stops the report with one UsageError and no output folder.
"""

import os

import pandas as pd
from matplotlib.figure import Figure

from lib.analysis.files import default_out, write_figures
from lib.studies.abc import frames, plots

LOSS_FILE = "loss.png"
OUTPUT_FILE = "output.png"
SUMMARY_FILE = "summary.csv"
ACCURACY_TABLE = "test_accuracy.csv"
TRIALS_TABLE = "trials.csv"
FIGURE_SIZE = (10.0, 5.0)  # inches: the axis and, on its right, a legend of a dozen runs


def build_frames(runs: list[frames.AbcRun]) -> dict:
    per_trial = frames.trials(runs)
    summary = frames.summary(per_trial)
    labels = frames.curve_labels(summary)
    return {"trials": per_trial, "summary": summary, "accuracy": frames.accuracy_by_activation(per_trial),
            "bands": frames.bands(frames.steps(runs), labels)}


def common_settings(summary: pd.DataFrame) -> str:
    """What every run shares (`digits L=6 m=1024 lr 0.01 bs 512 no bias 300 steps`), the runner's seed aside."""
    shared = [column for column in frames.SETTING_COLUMNS[:-1] if summary[column].nunique(dropna=False) == 1]
    return " ".join(frames.describe_value(column, summary[column].iloc[0]) for column in shared)


def draw_band(df, column: str, settings: str) -> Figure:
    """One axis under the settings the runs share, the legend outside on its right."""
    figure = Figure(figsize=FIGURE_SIZE, layout="constrained")
    ax = figure.add_subplot()
    plots.plot_band(df, ax, column, legend=False)
    figure.suptitle(f"all runs: {settings}" if settings else "", fontsize="medium")
    figure.legend(*ax.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    return figure


def draw_figures(built: dict) -> dict:
    """{file name: Figure}: loss.png and output.png where a trial has recorded a step."""
    if not len(built["bands"]):
        return {}
    settings = common_settings(built["summary"])
    return {name: draw_band(built["bands"], column, settings) for name, column in
            ((LOSS_FILE, "loss"), (OUTPUT_FILE, "abs_output"))}


def mean_std(mean, std, scale: float = 1.0, digits: int = 2) -> str:
    """`96.56 ± 0.57`; '-' where there is no mean."""
    if pd.isna(mean):
        return "-"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f}"


def printed_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as printed: settings (the run's name where they do not tell the runs apart), trials done
    of those read, test accuracy in % and final loss as mean ± std."""
    columns = ["parameterization", "activation", "width", "n_layers", "lr", "batch_size", "dataset", "n_steps"]
    printed = summary[columns].copy()
    if summary.duplicated(list(frames.SETTING_COLUMNS)).any():
        printed.insert(0, "run", summary["run"])
    printed["lr"] = [f"{lr:g}" for lr in summary["lr"]]
    printed["trials done"] = [f"{done}/{count}" for done, count in zip(summary["trials_done"], summary["trials"])]
    printed["test acc %"] = [mean_std(mean, std, 100.0) for mean, std in zip(summary["test_acc_mean"], summary["test_acc_std"])]
    printed["final loss"] = [mean_std(mean, std, digits=4) for mean, std in zip(summary["final_loss_mean"],
                                                                                summary["final_loss_std"])]
    return printed


def accuracy_grid(accuracy: pd.DataFrame) -> pd.DataFrame:
    """Test accuracy (%) mean ± std (trials) with a row per activation and a column per parameterization
    (and what else varies), in the order the runs were given."""
    settings = [column for column in accuracy.columns if column in frames.SETTING_COLUMNS and column != "activation"]
    names = [" ".join(frames.describe_value(column, row[column]) for column in settings) for _, row in accuracy.iterrows()]
    cells = [f"{mean_std(mean, std, 100.0)} ({count})" if count else "-" for mean, std, count in
             zip(accuracy["test_acc_mean"], accuracy["test_acc_std"], accuracy["tested"])]
    table = pd.DataFrame({"activation": accuracy["activation"], "column": names, "cell": cells})
    grid = table.pivot(index="activation", columns="column", values="cell")
    grid = grid.reindex(index=list(dict.fromkeys(table["activation"])), columns=list(dict.fromkeys(table["column"])))
    return grid.fillna("-").rename_axis(index=None, columns=None)


def describe(built: dict) -> str:
    """What the report prints after the files: the runs, then the results table by activation."""
    return "\n".join(["runs (test accuracy of the best-validation weights, final loss of the last SGD step; "
                      "mean ± std over trials):", printed_summary(built["summary"]).to_string(index=False), "",
                      "test accuracy % by activation, mean ± std over trials (trials with a test accuracy):",
                      accuracy_grid(built["accuracy"]).to_string()])


def write_abc_report(run_dirs: list[str], out: str | None = None, progress=print) -> list[str]:
    """Read the runs (run directories, or trial_<i> folders of them), then write to `out` (default:
    default_out of the run directories) loss.png and output.png, summary.csv (a row per run),
    test_accuracy.csv (per parameterization and activation) and trials.csv (a row per trial); print
    the tables. Returns the files written."""
    runs = frames.load_abc_runs(run_dirs)
    out = out or default_out([run.path for run in runs])
    count = sum(len(run.trials) for run in runs)
    progress(f"analyze: {len(runs)} abc run{'s' * (len(runs) > 1)}, {count} trial{'s' * (count > 1)} -> {out}")
    built = build_frames(runs)
    figures = draw_figures(built)
    text = describe(built)
    written = write_figures(out, figures, progress)
    os.makedirs(out, exist_ok=True)
    for name, table in ((SUMMARY_FILE, built["summary"]), (ACCURACY_TABLE, built["accuracy"]),
                        (TRIALS_TABLE, built["trials"])):
        path = os.path.join(out, name)
        table.to_csv(path, index=False)
        written.append(path)
        progress(f"wrote {path}")
    progress("\n" + text)
    return written
