"""What every report shares at its edges: reading a run's config.json, the default output folder,
and writing the figures and the summary table (only once every figure is drawn, so that a
bad input leaves no partial output)."""

import json
import os
from collections import Counter

from matplotlib.backends.backend_agg import FigureCanvasAgg

from lib.errors import UsageError

DPI = 120


def default_out(run_paths: list[str]) -> str:
    """<RUN_DIR>/report for one run (the run directory contract), ./report for several."""
    return os.path.join(run_paths[0], "report") if len(run_paths) == 1 else "report"


def run_labels(paths: list[str], alternative: list[str] | None = None) -> list[str]:
    """Labels of runs drawn side by side: their directory names; where names repeat, `alternative`
    (default `<parent>/<name>`), then their paths. A run given twice is a UsageError."""
    candidates = [[os.path.basename(os.path.normpath(path)) for path in paths],
                  alternative or [os.path.join(*os.path.normpath(os.path.abspath(path)).split(os.sep)[-2:]) for path in paths],
                  [os.path.normpath(path) for path in paths]]
    labels = next((labels for labels in candidates if len(set(labels)) == len(labels)), candidates[-1])
    duplicates = [label for label, count in Counter(labels).items() if count > 1]
    if duplicates:
        raise UsageError(f"run {duplicates[0]} is given more than once")
    return labels


def read_config(path: str, example: str):
    """The parsed config.json of run directory `path` (any JSON value: callers check its keys).

    `example` is a run directory to suggest, e.g. model_history/shapeset/<run name>.
    """
    if not os.path.isdir(path):
        raise UsageError(f"{path} is not a directory; pass a run directory such as {example}")
    config_path = os.path.join(path, "config.json")
    if not os.path.isfile(config_path):
        raise UsageError(f"{path} is not a run directory (no config.json)")
    try:
        with open(config_path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {config_path}: {error}") from None


def check_out_folder(out: str, names: list[str], overwrite: bool) -> None:
    """Before a command computes anything: `--out` must be a folder (or not exist yet), and files `names` in
    it are replaced only with `--overwrite`."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {out} is a file; pass a folder")
    existing = [os.path.join(out, name) for name in names if os.path.exists(os.path.join(out, name))]
    if existing and not overwrite:
        raise UsageError(f"{existing[0]} exists; pass --overwrite to replace it or --out to choose another folder")


def read_json_object(path: str, name: str, *, required: bool, absent: str = "") -> dict:
    """The JSON object in file `name` of run directory `path`; {} when the file is absent and not `required`.
    `absent` completes the error for a required file that is missing (what writes it, what `path` is not)."""
    file = os.path.join(path, name)
    if not os.path.isfile(file):
        if required:
            raise UsageError(f"{path} has no {name}{absent}")
        return {}
    try:
        with open(file) as f:
            value = json.load(f)
    except (OSError, ValueError) as error:
        raise UsageError(f"cannot read {file}: {error}".splitlines()[0]) from None
    if not isinstance(value, dict):
        raise UsageError(f"{file} is not a JSON object")
    return value


def write_report_files(out: str, figures: dict, summary_name: str, summary, caption: str, progress) -> list[str]:
    """Save `figures` ({file name: Figure}) and `summary` (a DataFrame, as CSV) into `out`; print
    the summary after `caption`; returns the paths written."""
    os.makedirs(out, exist_ok=True)
    written = write_figures(out, figures, progress)
    path = os.path.join(out, summary_name)
    summary.to_csv(path, index=False)
    written.append(path)
    progress(f"wrote {path}\n\n{caption}")
    return written


def write_figures(out: str, figures: dict, progress) -> list[str]:
    """Save `figures` ({file name: Figure}) into `out` (created if needed); returns the paths written."""
    written = []
    for name, figure in figures.items():
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, name)
        FigureCanvasAgg(figure)
        figure.savefig(path, dpi=DPI)
        written.append(path)
        progress(f"wrote {path}")
    return written
