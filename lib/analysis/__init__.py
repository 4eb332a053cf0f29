"""Analysis of recorded runs: h5 -> pandas DataFrames -> plot_*(df, ax); only the CLI writes files."""

import json
import os

from lib.errors import UsageError


def study_of(run_path: str) -> str:
    """'constnet' for a run whose config.json names an architecture (`arch`), else 'glorot'.

    A path without a readable config.json is left to the study's report, which says what is wrong.
    """
    try:
        with open(os.path.join(run_path, "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return "glorot"
    return "constnet" if isinstance(config, dict) and "arch" in config else "glorot"


def study_of_runs(run_paths: list[str]) -> str:
    studies = {path: study_of(path) for path in run_paths}
    if len(set(studies.values())) > 1:
        glorot = next(path for path, study in studies.items() if study == "glorot")
        constnet = next(path for path, study in studies.items() if study == "constnet")
        raise UsageError(f"analyze compares runs of one study: {glorot} is a glorot run, {constnet} a constnet run")
    return next(iter(studies.values()))
