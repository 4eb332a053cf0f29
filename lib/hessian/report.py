"""Hessian reports: the figure `hessian` draws for the analysis it wrote, and the section `analyze`
adds when its runs hold hessian/ files (densities and top eigenvalues side by side, e.g.
DiversityNN's pure vs diverse networks)."""

import os

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lib.analysis.files import DPI, run_labels, write_figures, write_report_files
from lib.hessian import files
from lib.hessian.frames import block_frame, density_frame, eigenvalue_frame, sharpness_frame
from lib.hessian.plots import plot_blocks, plot_density, plot_sharpness, plot_top_eigenvalues
from lib.storage import atomic


def describe(record) -> str:
    """The analysis in a few lines, as printed after it."""
    whole = record.whole
    lines = [f"top eigenvalues: {' '.join(f'{value:.6g}' for value in whole.eigenvalues)} "
             f"(power iterations {' '.join(map(str, whole.iterations))})",
             f"trace: {whole.trace:.6g} +- {whole.trace_standard_error:.3g} (standard error, "
             f"{len(whole.trace_samples)} Rademacher probes)",
             f"SLQ: {len(whole.ritz_values)} probe(s) of {whole.ritz_values.shape[1]} Lanczos steps, Ritz values in "
             f"[{whole.ritz_values.min():.4g}, {whole.ritz_values.max():.4g}]"]
    if whole.exact_eigenvalues is not None:
        lines += exact_comparison(whole)
    if len(record.spectra) > 1:
        lines.append(block_frame(record).to_string(index=False))
    return "\n".join(lines)


def exact_comparison(found) -> list[str]:
    """How the estimates of a Spectrum compare with its exact eigenvalues (--exact)."""
    exact = found.exact_eigenvalues
    top = exact[np.argsort(-np.abs(exact))][:len(found.eigenvalues)]
    errors = np.abs(found.eigenvalues - top) / np.abs(top)
    power_errors = np.abs(found.power_eigenvalues - top) / np.abs(top)
    standard_errors = (found.trace - np.sum(exact)) / found.trace_standard_error
    moments = [np.mean(np.sum(found.ritz_weights * found.ritz_values ** p, axis=1)) for p in (1, 2)]
    return [f"exact: top {' '.join(f'{value:.6g}' for value in top)}, trace {np.sum(exact):.6g}, "
            f"{np.sum(exact < 0)} negative of {len(exact)}",
            f"  top-{len(top)} relative error: Ritz {errors.max():.1e} (power iteration alone "
            f"{power_errors.max():.1e}); trace off by {standard_errors:+.2f} standard errors",
            f"  SLQ moments: mean {moments[0]:.6g} (exact {np.mean(exact):.6g}), second {moments[1]:.6g} "
            f"(exact {np.mean(exact ** 2):.6g})"]


def write_run_figure(run_path: str, record) -> str:
    """hessian/<label>.png: the density, and with --per_layer the blocks beside it."""
    records = {record.label: record}
    panels = 2 if len(record.spectra) > 1 else 1
    figure = Figure(figsize=(6.5 * panels, 4.5), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    plot_density(density_frame(records), axes[0], title=f"{record.label}: spectral density (SLQ)")
    if panels == 2:
        plot_blocks(block_frame(record), axes[1])
    path = os.path.join(run_path, files.FOLDER, f"{record.label}.png")
    partial = path + ".partial.png"
    FigureCanvasAgg(figure)
    with atomic.writing(path, partial):  # a full disk: one line naming the figure, no partial file left
        figure.savefig(partial, dpi=DPI)
        os.replace(partial, path)
    return path


def write_hessian_report(run_paths: list[str], out: str, progress) -> list[str]:
    """hessian_density.png, hessian_top_eigenvalues.png and hessian_summary.csv of every hessian/<label>.h5
    of `run_paths`, and hessian_sharpness.png of their hessian_history.h5 (--hessian_every); nothing for
    runs that have neither."""
    names = run_labels(run_paths)
    records = {}
    for name, path in zip(names, run_paths, strict=True):
        for label in files.labels(path):
            records[f"{name}: {label}" if len(run_paths) > 1 else label] = files.read(path, label)
    sharpness = sharpness_frame(run_paths, names)
    figures = {}
    if len(sharpness):
        figure = Figure(figsize=(12, 4.5), layout="constrained")
        for ax, column in zip(figure.subplots(1, 2), ("top_eigenvalue", "trace"), strict=True):
            plot_sharpness(sharpness, ax, column)
        figures["hessian_sharpness.png"] = figure
    if not records:
        return write_figures(out, figures, progress)
    density, top = Figure(figsize=(7, 4.5), layout="constrained"), Figure(figsize=(7, 4.5), layout="constrained")
    plot_density(density_frame(records), density.subplots())
    plot_top_eigenvalues(eigenvalue_frame(records), top.subplots())
    figures.update({"hessian_density.png": density, "hessian_top_eigenvalues.png": top})
    summary = pd.DataFrame([{**files.summary_row(record), "label": name} for name, record in records.items()])
    return write_report_files(out, figures, "hessian_summary.csv", summary,
                              "Hessian analyses:\n" + summary.to_string(index=False), progress)
