"""Sweeps: a grid file -> one ordinary run directory per point, each made by one `experiment.py`
process run as a Ray core task (docs/sweeps.md, reference/scaleout.md).

grid.py      the grid file: parse, check names against the study's flags
plan.py      grid -> planned runs (run name, argv, run directory), every point checked by the study's parser
state.py     a run's state from its directory (status.json, or the study's own run_state hook)
task.py      one run: start, resume or skip it, as a subprocess, output to the sweep's logs/
engine.py    Ray: embedded or --address, the tasks, retries, the progress loop
progress.py  one line per run start and end, counts, elapsed and remaining time
table.py     sweep.csv and the printed table
frames.py / plots.py / report.py   `analyze SWEEP_DIR`: mean ± std over seeds, best-validation selection, figure
command.py   `experiment.py sweep GRID.yaml [engine flags]`

The sweep's state is the run directories' own: re-running the same command skips what is done,
resumes what was interrupted and starts the rest. Nothing here imports Keras; Ray is imported only
when runs start.
"""
