"""Hessian records -> DataFrames for lib.hessian.plots: the density curves and the top eigenvalues
of any number of (run, label) analyses, each row naming its run, label and block."""

import numpy as np
import pandas as pd

from lib.hessian import spectrum
from lib.hessian.analysis import ALL

EXACT_SUFFIX = " (exact)"


def density_frame(records: dict[str, object], block: str = ALL) -> pd.DataFrame:
    """Columns run, eigenvalue, density: PyHessian's density curve (lib.hessian.spectrum.density) of
    `block` of each record ({run label: HessianRecord}), averaged over its SLQ probes; with --exact also
    the same kernel over every exact eigenvalue, weight 1/size each (run `<label> (exact)`)."""
    frames = []
    for name, record in records.items():
        found = next((s for s in record.spectra if s.name == block), None)
        if found is None:
            continue
        grid, curve = spectrum.density(found.ritz_values, found.ritz_weights)
        frames.append(pd.DataFrame({"run": name, "eigenvalue": grid, "density": curve}))
        if found.exact_eigenvalues is not None:
            values = found.exact_eigenvalues
            grid, curve = spectrum.density(values[None], np.full((1, len(values)), 1.0 / len(values)))
            frames.append(pd.DataFrame({"run": name + EXACT_SUFFIX, "eigenvalue": grid, "density": curve}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["run", "eigenvalue", "density"])


def eigenvalue_frame(records: dict[str, object]) -> pd.DataFrame:
    """Columns run, block, rank (1 = largest in magnitude), eigenvalue, exact (the exact one of that
    rank by magnitude, NaN without --exact)."""
    rows = []
    for name, record in records.items():
        for found in record.spectra:
            exact = None
            if found.exact_eigenvalues is not None:
                exact = found.exact_eigenvalues[np.argsort(-np.abs(found.exact_eigenvalues))]
            for rank, value in enumerate(found.eigenvalues, start=1):
                rows.append({"run": name, "block": found.name, "rank": rank, "eigenvalue": float(value),
                             "exact": float(exact[rank - 1]) if exact is not None else np.nan})
    return pd.DataFrame(rows, columns=["run", "block", "rank", "eigenvalue", "exact"])


def block_frame(record) -> pd.DataFrame:
    """Columns block, size, top_eigenvalue, trace, trace_standard_error: one row per block of one record."""
    return pd.DataFrame([{"block": s.name, "size": s.size, "top_eigenvalue": float(s.eigenvalues[0]), "trace": s.trace,
                          "trace_standard_error": s.trace_standard_error} for s in record.spectra])


def sharpness_frame(run_paths: list[str], names: list[str]) -> pd.DataFrame:
    """Columns run, epoch, top_eigenvalue, trace, trace_standard_error: the hessian_history.h5 rows
    (--hessian_every) of the runs that have one."""
    import os

    from lib.hessian.monitor import HISTORY_FILE
    from lib.storage.epoch_table import read_epoch_table

    frames = []
    for name, path in zip(names, run_paths, strict=True):
        if os.path.isfile(os.path.join(path, HISTORY_FILE)):
            table = read_epoch_table(os.path.join(path, HISTORY_FILE))
            frames.append(pd.DataFrame({"run": name, **{key: table[key] for key in SHARPNESS_COLUMNS}}))
    columns = ["run", *SHARPNESS_COLUMNS]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


SHARPNESS_COLUMNS = ("epoch", "top_eigenvalue", "trace", "trace_standard_error")
