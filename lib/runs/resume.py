"""`--resume`: check that a run directory can be continued and cut its files back to its checkpoint.

After a crash, files may hold epochs beyond the newest checkpoint (written at the end of an
epoch whose checkpoint never came) and half-written temporary files. Resuming from the
checkpoint of epoch N keeps exactly epochs <= N everywhere, so the continued run writes
every later epoch once: no duplicate and no gap. With no checkpoint yet (N = 0) the run
starts over in its directory.
"""

import csv
import io
import json
import os

from lib.distribution.options import LAUNCH_FIELDS
from lib.errors import UsageError
from lib.runs.checkpoint import checkpoint_epoch
from lib.storage import atomic
from lib.storage.epoch_table import is_epoch_table, truncate_epoch_table
from lib.storage.records import record_file_name, record_files

# how the run was started, not what it computes (on several hosts: where each process joins, which the
# resuming command gives anew, lib.distribution.options; --output_dir, which found the run whatever its
# spelling: `model_history`, `./model_history`, the absolute path a sweep passes); and `study`, which runs
# written before initlab recorded it lack (the study resuming them was chosen from their fields)
IGNORED_FIELDS = ("overwrite", "resume", "study", "output_dir", *LAUNCH_FIELDS)


def differing_fields(saved: dict, current: dict, defaults: dict | None = None) -> list[str]:
    """'field saved -> current' for every field that changes what the run computes. A field the saved
    config lacks was added to initlab after the run started: the run had its default behaviour."""
    saved = {**(defaults or {}), **saved}
    keys = sorted((set(saved) | set(current)) - set(IGNORED_FIELDS))
    return [f"{key} {saved.get(key)!r} -> {current.get(key)!r}" for key in keys if saved.get(key) != current.get(key)]


def read_run_config(run_path: str) -> dict:
    config_path = os.path.join(run_path, "config.json")
    if not os.path.isdir(run_path):
        raise UsageError(f"nothing to resume: {run_path} does not exist; start the run without --resume")
    try:
        with open(config_path) as f:
            config = json.load(f)
    except (OSError, ValueError):
        raise UsageError(f"{run_path} is not a run directory (no readable config.json); nothing to resume") from None
    if not isinstance(config, dict):
        raise UsageError(f"{config_path} is not a run configuration; nothing to resume")
    return config


def prepare_resume(run_path: str, config_json: str, defaults: dict | None = None) -> int:
    """Check the run can be resumed with this config (`defaults`: the config class's field defaults);
    cut its files back; return the epochs already done."""
    saved = read_run_config(run_path)
    differences = differing_fields(saved, json.loads(config_json), defaults)
    if differences:
        raise UsageError(f"cannot resume {run_path} with a different configuration: {'; '.join(differences)}")
    status = _status(run_path)
    if status.get("state") == "done":
        raise UsageError(f"{run_path} is done ({status.get('last_epoch')} epochs); nothing to resume")
    epoch = checkpoint_epoch(run_path)
    _cut_back(run_path, epoch)
    return epoch


def _status(run_path: str) -> dict:
    try:
        with open(os.path.join(run_path, "status.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _cut_back(run_path: str, epoch: int) -> None:
    """Remove what a crash left half-written, then every epoch after `epoch` (all of them for 0)."""
    atomic.remove_temporaries(run_path)
    for name in os.listdir(run_path):
        path = os.path.join(run_path, name)
        if name.endswith(".h5") and is_epoch_table(path):
            truncate_epoch_table(path, epoch)
        elif name.endswith(".csv"):
            _truncate_csv(path, epoch)
    for record_epoch in record_files(run_path):
        if epoch == 0 or record_epoch > epoch:
            os.remove(os.path.join(run_path, record_file_name(record_epoch)))


def _truncate_csv(path: str, epoch: int) -> None:
    """A per-epoch CSV (first column `epoch`) keeps the rows of epochs <= epoch."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:1] != ["epoch"]:
        return
    kept = [rows[0]] + [row for row in rows[1:] if row and epoch > 0 and int(row[0]) <= epoch]
    text = io.StringIO()
    csv.writer(text).writerows(kept)  # the writer's own line endings, as the appended rows will have
    atomic.write_text(path, text.getvalue())
