"""sweep.csv: one row per planned run (its axis values, state, epochs and the scalar results of its
results.json), read from the run directories themselves; and the table printed at the end."""

import csv
import io
import json
import os

from lib.storage import atomic
from lib.sweeps.state import run_state

SWEEP_FILE = "sweep.csv"


def run_row(study: str, name: str, values: dict, path: str, directory: str, failure: str = "") -> dict:
    """The run's row; `failure`: why the sweep's attempt failed (the last line of its log), the reason
    shown when the run directory itself gives none (a run that failed before writing its status)."""
    state = run_state(study, path)
    row = {"run": name, **values, "status": state.state, "epochs": state.last_epoch}
    # results.json may hold a key of the same name (glorot's `epochs`, the planned count): the sweep's own
    # columns and the axis values as written in the grid win. Only a finished run's: one being started over
    # (--overwrite) may still hold its previous results
    results = read_results(path) if state.finished else {}
    row.update({key: value for key, value in results.items() if key not in row})
    row["reason"] = "" if state.state == "done" else state.reason or failure
    row["path"] = os.path.relpath(path, directory)
    return row


def read_results(path: str) -> dict:
    """results.json's scalars (numbers, booleans, text, null); {} when the run has none (yet)."""
    try:
        with open(os.path.join(path, "results.json")) as f:
            results = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(results, dict):
        return {}
    return {key: value for key, value in results.items() if value is None or isinstance(value, (int, float, str, bool))}


def plan_rows(plan, outcomes=()) -> list[dict]:
    """One row per planned run; `outcomes` (lib.sweeps.task.Outcome of this sweep's runs) give the reason of
    a failure the run directory does not record."""
    failures = {outcome.name: outcome.reason for outcome in outcomes if not outcome.finished}
    return [run_row(plan.grid.study, run.name, dict(run.values), run.path, plan.directory, failures.get(run.name, ""))
            for run in plan.runs]


def columns_of(rows: list[dict]) -> list[str]:
    """Every key of every row, in first-seen order, `reason` and `path` last (results differ by study)."""
    columns = list(dict.fromkeys(key for row in rows for key in row if key not in ("reason", "path")))
    return columns + ["reason", "path"]


def write_sweep_csv(directory: str, rows: list[dict]) -> str:
    path = os.path.join(directory, SWEEP_FILE)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns_of(rows), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, text.getvalue())
    return path


def format_table(rows: list[dict], columns: list[str] | None = None) -> str:
    """Rows as aligned text columns; numbers rounded to 4 significant digits, missing values as '-'."""
    columns = columns or list(rows[0])
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells]
    return "\n".join(line.rstrip() for line in lines)


def _cell(value) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
