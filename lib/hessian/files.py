"""The Hessian analysis' files in a run directory: `hessian/<label>.h5` and `hessian/summary.csv`.

<label>.h5: attributes `settings` (JSON: lib.hessian.analysis.HessianSettings), `epoch`, `split`,
`examples`, `parameters`, `backend`, `layers` (JSON list, with --per_layer); one group per Spectrum,
`all` and `layers/<layer path>`, holding `eigenvalues`, `iterations`, `power_eigenvalues`, `trace_samples`,
`ritz_values`, `ritz_weights` (probes x steps), optionally `eigenvectors` (top_k x size) and
`exact_eigenvalues`, with attributes `size` and `seconds` (JSON). Written under a temporary name
and renamed: an interrupted analysis leaves no file.

summary.csv: one row per label (the whole Hessian), replaced on every write.
"""

import csv
import dataclasses
import io
import json
import os

import h5py
import numpy as np

from lib.errors import UsageError
from lib.hessian.analysis import ALL, HessianSettings, Spectrum
from lib.storage import atomic

FOLDER = "hessian"
SUMMARY = "summary.csv"
ARRAYS = ("eigenvalues", "iterations", "power_eigenvalues", "trace_samples", "ritz_values", "ritz_weights")
OPTIONAL_ARRAYS = ("eigenvectors", "exact_eigenvalues")
SUMMARY_COLUMNS = ("label", "epoch", "split", "examples", "parameters", "top_eigenvalue", "top_eigenvalues",
                   "trace", "trace_standard_error", "trace_samples", "exact_top_eigenvalue", "exact_trace", "seconds")


def hessian_path(run_path: str, label: str) -> str:
    return os.path.join(run_path, FOLDER, f"{label}.h5")


def labels(run_path: str) -> list[str]:
    folder = os.path.join(run_path, FOLDER)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return [name[:-3] for name in names if name.endswith(".h5")]


@dataclasses.dataclass(frozen=True)
class HessianRecord:
    label: str
    epoch: int
    split: str
    examples: int
    backend: str
    settings: HessianSettings
    spectra: list  # [Spectrum]: the whole Hessian first, then the layers

    @property
    def whole(self) -> Spectrum:
        return self.spectra[0]


def write(run_path: str, record: HessianRecord) -> str:
    path = hessian_path(run_path, record.label)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic.h5_file(path) as f:
        f.attrs.update(settings=json.dumps(dataclasses.asdict(record.settings)), epoch=record.epoch, split=record.split,
                       examples=record.examples, parameters=record.whole.size, backend=record.backend,
                       layers=json.dumps([s.name for s in record.spectra[1:]]))
        for spectrum in record.spectra:
            group = f.create_group(ALL if spectrum.name == ALL else f"layers/{spectrum.name}")
            group.attrs.update(size=spectrum.size, seconds=json.dumps(spectrum.seconds))
            for name in (*ARRAYS, *OPTIONAL_ARRAYS):
                if getattr(spectrum, name) is not None:
                    group.create_dataset(name, data=np.asarray(getattr(spectrum, name)))
    _write_summary(run_path)
    return path


def read(run_path: str, label: str) -> HessianRecord:
    path = hessian_path(run_path, label)
    try:
        with h5py.File(path, "r") as f:
            layers = json.loads(f.attrs["layers"])
            spectra = [_read_spectrum(f[ALL], ALL)] + [_read_spectrum(f[f"layers/{layer}"], layer) for layer in layers]
            return HessianRecord(label, int(f.attrs["epoch"]), str(f.attrs["split"]), int(f.attrs["examples"]),
                                 str(f.attrs["backend"]), HessianSettings(**json.loads(f.attrs["settings"])), spectra)
    except (OSError, KeyError, ValueError, TypeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None


def _read_spectrum(group, name: str) -> Spectrum:
    arrays = {key: np.asarray(group[key]) for key in (*ARRAYS, *OPTIONAL_ARRAYS) if key in group}
    return Spectrum(name, int(group.attrs["size"]), seconds=json.loads(group.attrs["seconds"]), **arrays)


def summary_row(record: HessianRecord) -> dict:
    whole = record.whole
    exact = whole.exact_eigenvalues
    return {"label": record.label, "epoch": record.epoch, "split": record.split, "examples": record.examples,
            "parameters": whole.size, "top_eigenvalue": float(whole.eigenvalues[0]),
            "top_eigenvalues": " ".join(f"{value:.6g}" for value in whole.eigenvalues),
            "trace": whole.trace, "trace_standard_error": whole.trace_standard_error,
            "trace_samples": len(whole.trace_samples),
            "exact_top_eigenvalue": float(exact[np.argmax(np.abs(exact))]) if exact is not None else "",
            "exact_trace": float(np.sum(exact)) if exact is not None else "",
            "seconds": round(sum(whole.seconds.values()), 2)}


def _write_summary(run_path: str) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    for label in labels(run_path):
        writer.writerow(summary_row(read(run_path, label)))
    atomic.write_text(os.path.join(run_path, FOLDER, SUMMARY), text.getvalue())
