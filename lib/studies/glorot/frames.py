"""Recorded glorot runs as tidy pandas DataFrames, one row per (run, epoch, hidden layer, ...).

Everything is read through lib.storage.epoch_table (`record_epochs`, `read_record`, `read_epoch_table`),
so a missing, truncated or foreign file is one UsageError whatever frame asks for it. Layers
are numbered as in the paper: hidden layer i is `dense_i` -> `act_i`, i = 1..H; the softmax
layer `dense_{H+1}` is left out of every frame.
"""

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lib.analysis.files import read_config, run_labels
from lib.errors import UsageError
from lib.storage.epoch_table import read_epoch_table
from lib.storage.records import read_record, record_epochs
from lib.studies.glorot.jacobian import DERIVATIVES, mean_singular_values

# What a histogram of each kind is taken over: (h5 record kind, key of hidden layer i).
HISTOGRAM_SOURCES = {
    "activations": ("activations", "dense_{}"),
    "backprop_gradients": ("backprop_gradients", "dense_{}"),
    "weight_gradients": ("gradients", "dense_{}_kernel"),
}
# Gradients have long tails: their histogram range leaves out the outer 0.1% (pooled over a run's
# layers) so the bulk stays readable; activations are bounded and keep their full range.
HISTOGRAM_TAIL = {"activations": 0.0, "backprop_gradients": 0.0005, "weight_gradients": 0.0005}
DEFAULT_BINS = 100
DEFAULT_JACOBIAN_EXAMPLES = 50  # per-example means vary little; 50 keeps 1000-unit layers at seconds per run


@dataclass(frozen=True)
class Run:
    path: str
    label: str
    config: dict

    @property
    def hidden_layers(self) -> range:
        return range(1, int(self.config["hidden_layers"]) + 1)

    @property
    def activation(self) -> str:
        return self.config["activation"]


def load_runs(paths: list[str]) -> list[Run]:
    """Check that each path is a glorot run with records and label it.

    The label is the run directory's name; where two runs share a name (e.g. the same default
    name under two datasets) they are labelled `<activation> <init>`, then by their path.
    """
    configs = [_read_config(path) for path in paths]
    names = run_labels(paths, [f"{c['activation']} {c['init']}" for c in configs])
    return [Run(path, name, config) for path, name, config in zip(paths, names, configs)]


def _read_config(path: str) -> dict:
    config = read_config(path, "model_history/shapeset/<run name>")
    config_path = os.path.join(path, "config.json")
    missing = [key for key in ("activation", "init", "hidden_layers", "record_every")
               if not isinstance(config, dict) or key not in config]
    if missing:
        raise UsageError(f"{path} is not a glorot run ({config_path} lacks {', '.join(missing)})")
    if config["record_every"] == 0:
        raise UsageError(f"{path} was recorded with --record_every 0: it has no activation or gradient records to analyze")
    if config["activation"] not in DERIVATIVES:
        raise UsageError(f"{path}: unknown activation '{config['activation']}' (known: {', '.join(DERIVATIVES)})")
    return config


def _layer_arrays(run: Run, kind: str, epoch: int, key: str) -> dict[int, np.ndarray]:
    """{hidden layer i: array} of one record; a record without a hidden layer's key is an error."""
    record = read_record(run.path, kind, epoch)
    arrays = {}
    for layer in run.hidden_layers:
        name = key.format(layer)
        if name not in record:
            raise UsageError(f"{os.path.join(run.path, kind + '.h5')}: epoch{epoch} has no '{name}' "
                             f"though config.json says {len(run.hidden_layers)} hidden layers")
        arrays[layer] = record[name]
    return arrays


def _epochs(run: Run, kind: str) -> list[int]:
    epochs = record_epochs(run.path, kind)
    if not epochs:
        raise UsageError(f"{os.path.join(run.path, kind + '.h5')} holds no complete record")
    return epochs


def activation_stats(runs: list[Run]) -> pd.DataFrame:
    """Mean, std and 98th percentile of each hidden layer's activations z_i over the probe
    examples and units, per recorded epoch (paper Figs. 2, 3 and 10)."""
    rows = []
    for run in runs:
        for epoch in _epochs(run, "activations"):
            for layer, z in _layer_arrays(run, "activations", epoch, "dense_{}").items():
                rows.append({"run": run.label, "epoch": epoch, "layer": layer, "mean": float(z.mean()),
                             "std": float(z.std()), "p98": float(np.percentile(z, 98))})
    return pd.DataFrame(rows)


def weight_gradient_spread(runs: list[Run]) -> pd.DataFrame:
    """Mean and std over the entries of dL/dW_i (probe mean loss), per recorded epoch (paper Fig. 9)."""
    rows = []
    for run in runs:
        for epoch in _epochs(run, "gradients"):
            for layer, grad in _layer_arrays(run, "gradients", epoch, "dense_{}_kernel").items():
                rows.append({"run": run.label, "epoch": epoch, "layer": layer, "mean": float(grad.mean()),
                             "std": float(grad.std())})
    return pd.DataFrame(rows)


def histograms(runs: list[Run], kind: str, epoch: int | None = None, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """Normalized histograms (density, integrating to 1 over the range) of one kind per run and layer.

    kind: activations (paper Figs. 4, 6), backprop_gradients (dC/ds, Fig. 7) or weight_gradients
    (dL/dW entries, Fig. 8). epoch: a recorded epoch, or None for each run's last record.
    The layers of a run share one set of bin edges, so their curves compare directly; each run
    has its own, since gradients under standard and normalized init differ by orders of
    magnitude. For gradients the range is the run's pooled 0.05%..99.95% quantiles
    (HISTOGRAM_TAIL) and `inside` says which fraction of a layer's values it holds.
    """
    if kind not in HISTOGRAM_SOURCES:
        raise UsageError(f"unknown histogram kind '{kind}' (valid: {', '.join(HISTOGRAM_SOURCES)})")
    source, key = HISTOGRAM_SOURCES[kind]
    rows = []
    for run in runs:
        epochs = _epochs(run, source)
        chosen = epochs[-1] if epoch is None else epoch
        if chosen not in epochs:
            raise UsageError(f"{run.path} has no {source} record at epoch {chosen} (recorded: {_span(epochs)})")
        layers = {layer: values.ravel() for layer, values in _layer_arrays(run, source, chosen, key).items()}
        edges = _bin_edges(np.concatenate(list(layers.values())), HISTOGRAM_TAIL[kind], bins)
        for layer, values in layers.items():
            counts, _ = np.histogram(values, bins=edges)
            inside = counts.sum()
            density = counts / (inside * np.diff(edges)) if inside else np.zeros(bins)
            rows.append(pd.DataFrame({"run": run.label, "kind": kind, "epoch": chosen, "layer": layer,
                                      "left": edges[:-1], "right": edges[1:], "center": (edges[:-1] + edges[1:]) / 2,
                                      "density": density, "inside": inside / values.size}))
    return pd.concat(rows, ignore_index=True)


def _bin_edges(values: np.ndarray, tail: float, bins: int) -> np.ndarray:
    low, high = np.quantile(values, [tail, 1.0 - tail])
    if low == high:
        low, high = low - 0.5, high + 0.5  # a constant layer still gets a visible bin
    return np.linspace(low, high, bins + 1)


def _span(epochs: list[int]) -> str:
    return ", ".join(map(str, epochs)) if len(epochs) <= 6 else f"{epochs[0]}..{epochs[-1]}"


def error_curves(runs: list[Run]) -> pd.DataFrame:
    """Error % after each epoch from history.h5 (paper Figs. 11, 12): test error, or validation
    error for runs whose history has no test column. Row i of the table is epoch i + 1."""
    rows = []
    for run in runs:
        table = read_epoch_table(os.path.join(run.path, "history.h5"))
        if "test_acc" in table:
            split, accuracy = "test", table["test_acc"]
        elif "val_acc" in table:
            split, accuracy = "validation", table["val_acc"]
        else:
            raise UsageError(f"{os.path.join(run.path, 'history.h5')} has neither test_acc nor val_acc")
        rows.append(pd.DataFrame({"run": run.label, "epoch": np.arange(1, len(accuracy) + 1),
                                  "error": 100.0 * (1.0 - accuracy), "split": split}))
    return pd.concat(rows, ignore_index=True)


def jacobian_singular_values(runs: list[Run], epoch: int = 0, examples: int = DEFAULT_JACOBIAN_EXAMPLES) -> pd.DataFrame:
    """Mean singular value of J_i = dz_i/dz_{i-1} = W_i diag(f'(s_i)) per hidden layer (paper §4.2.2,
    Eq. 17), averaged over the first `examples` probe examples; `std` is its spread over them.
    The paper measures about 0.5 (standard init) and 0.8 (normalized init) for tanh. Layer 1
    maps the input (not a hidden layer) and has a different shape, so it need not follow."""
    rows = []
    for run in runs:
        weight_epochs = _epochs(run, "weights")
        if epoch not in weight_epochs:
            raise UsageError(f"{run.path} has no weights at epoch {epoch} (recorded: {_span(weight_epochs)}); "
                             "record them with --record_weights all")
        kernels = _layer_arrays(run, "weights", epoch, "dense_{}_kernel")
        preactivations = _layer_arrays(run, "preactivations", epoch, "dense_{}")
        for layer in run.hidden_layers:
            means = mean_singular_values(kernels[layer], preactivations[layer][:examples], run.activation)
            rows.append({"run": run.label, "epoch": epoch, "layer": layer, "mean_singular_value": float(means.mean()),
                         "std": float(means.std()), "examples": len(means)})
    return pd.DataFrame(rows)


def summary(runs: list[Run], examples: int = DEFAULT_JACOBIAN_EXAMPLES, jacobians: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per run and hidden layer at initialization (epoch 0): std of activations (Fig. 6),
    of back-propagated gradients (Fig. 7) and of weight gradients (Fig. 8), the mean Jacobian
    singular value (§4.2.2), and the run's final error % (last history row; Table 1).
    `jacobians` reuses an already computed jacobian_singular_values frame of epoch 0."""
    if jacobians is None:
        jacobians = jacobian_singular_values(runs, 0, examples)
    singular = jacobians.set_index(["run", "layer"])["mean_singular_value"]
    final_error = error_curves(runs).groupby("run")["error"].last()  # a run stopped before epoch 1 has none: NaN
    rows = []
    for run in runs:
        activations = _layer_arrays(run, "activations", 0, "dense_{}")
        backprop = _layer_arrays(run, "backprop_gradients", 0, "dense_{}")
        weight_gradients = _layer_arrays(run, "gradients", 0, "dense_{}_kernel")
        for layer in run.hidden_layers:
            rows.append({"run": run.label, "activation": run.activation, "init": run.config["init"], "layer": layer,
                         "activation_std": float(activations[layer].std()),
                         "backprop_gradient_std": float(backprop[layer].std()),
                         "weight_gradient_std": float(weight_gradients[layer].std()),
                         "jacobian_mean_singular_value": float(singular[run.label, layer]),
                         "final_error_percent": float(final_error.get(run.label, np.nan))})
    return pd.DataFrame(rows)
