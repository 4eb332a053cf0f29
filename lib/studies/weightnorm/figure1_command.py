"""`python experiment.py weightnorm figure1 [flags]`: Figure 1 of Arpit, Campos & Bengio (2019), forward and
backward norm ratios against depth at initialization (reference/weightnorm_abc.md §A6).

Without --nn, the paper's synthetic experiment (figure1.py): figure1.png and figure1.csv in --out. With --nn,
the same curves on initlab's real WN network (figure1_models.py), one curve per --init: figure1_<model>_<dataset>
.png and .csv (`_real` appended for --inputs real), drawn here (figure1_plots.py draws the synthetic frame).
Every bad input is one line and exit code 2 before anything is computed, and no file is replaced without
--overwrite.
"""

import argparse
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lib.analysis.files import check_out_folder
from lib.config import OneLineParser, non_negative_int, positive_int
from lib.environment import BACKENDS
from lib.errors import UsageError
from lib.studies.weightnorm import figure1
from lib.studies.weightnorm.config import INIT_ALIASES
from lib.studies.weightnorm.figure1_models import (
    BATCH_SIZE,
    DATASET_SHAPES,
    DEFAULT_INITS,
    INITS,
    INPUTS,
    NETWORKS,
    RESIDUAL,
    SIZES,
    RealNetwork,
)
from lib.studies.weightnorm.figure1_plots import PANEL_SIZE

DEFAULT_OUT = os.path.join("figures", "weightnorm_figure1")
DESCRIPTION = ("Figure 1 (Arpit, Campos & Bengio 2019): forward |h^l|/|x| and backward gradient-norm ratios "
               "against depth at initialization, mean +- std over samples; the paper's synthetic WN MLP and ResNet, "
               "or with --nn initlab's real WN network under each --init")
SIZE_FLAGS = ("num_layers", "hidden_size", "num_blocks", "wrn_n", "wrn_k")
REAL_ONLY = ("init", "dataset", "inputs", "batch_size", *SIZE_FLAGS)


def init_list(text: str) -> list[str]:
    """--init: comma-separated names of figure1_models.INITS (the pre-rename names accepted, as --init of the study)."""
    names = [INIT_ALIASES.get(name.strip(), name.strip()) for name in text.split(",")]
    unknown = [name for name in names if name not in INITS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown init '{unknown[0]}' (valid: {', '.join(INITS)})")
    return names


def parser() -> OneLineParser:
    p = OneLineParser(prog="experiment.py weightnorm figure1", description=DESCRIPTION)
    p.add_argument("--out", default=DEFAULT_OUT, help=f"folder for the PNG and the CSV (default: {DEFAULT_OUT})")
    p.add_argument("--samples", type=positive_int, default=figure1.SAMPLES,
                   help=f"samples the mean and std are taken over (default: {figure1.SAMPLES})")
    p.add_argument("--seed", type=non_negative_int, default=figure1.SEED,
                   help=f"seed of the networks, inputs and signals (default: {figure1.SEED})")
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same names in --out")
    p.add_argument("--nn", choices=NETWORKS, help="measure initlab's real WN network instead of the synthetic one")
    p.add_argument("--init", action="append", type=init_list, metavar="INIT[,INIT...]",
                   help=f"with --nn: inits to compare, comma-separated or repeated (valid: {', '.join(INITS)}; he_g1 is "
                        f"he with every g = 1, the paper's baseline; default: {','.join(DEFAULT_INITS)})")
    p.add_argument("--dataset", choices=tuple(DATASET_SHAPES),
                   help="with --nn: the input shape and classes (default: mnist for the MLP, cifar10 otherwise)")
    p.add_argument("--inputs", choices=INPUTS, help="with --nn: x ~ N(0, I) in the dataset's shape (gaussian, the "
                                                    "default) or its validation examples (real)")
    for name, networks, text in (("num_layers", "mlp, cnn", "hidden layers"), ("hidden_size", "mlp, cnn, resnet",
                                 "MLP width, CNN channels, ResNet base channels"),
                                 ("num_blocks", "resnet", "residual blocks per stage"),
                                 ("wrn_n", "wrn", "WRN blocks per stage N"), ("wrn_k", "wrn", "WRN widening factor k")):
        defaults = ", ".join(f"{nn} {SIZES[nn][name]}" for nn in NETWORKS if name in SIZES[nn])
        p.add_argument(f"--{name}", type=positive_int, help=f"with --nn {networks}: {text} (default: {defaults})")
    p.add_argument("--batch_size", type=positive_int,
                   help=f"with --nn: samples per forward/backward pass (default: {BATCH_SIZE})")
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend, with --nn (default: $KERAS_BACKEND, else tensorflow)")
    return p


def run_figure1(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.backend:
        from lib.environment import check_backend

        check_backend(args.backend)
    if args.nn is None:
        given = [name for name in REAL_ONLY if getattr(args, name) is not None]
        if given:
            raise UsageError(f"--{given[0]} applies to the real-model curves: pass --nn ({', '.join(NETWORKS)})")
        check_out_folder(args.out, [figure1.FIGURE_FILE, figure1.TABLE_FILE], args.overwrite)
        figure1.write_figure1(args.out, _progress, samples=args.samples, seed=args.seed)
        return 0
    network = RealNetwork.of(args.nn, args.dataset, **{name: getattr(args, name) for name in SIZE_FLAGS})
    inputs = args.inputs or "gaussian"
    stem = f"figure1_{network.label}_{network.dataset}" + ("_real" if inputs == "real" else "")
    check_out_folder(args.out, [f"{stem}.png", f"{stem}.csv"], args.overwrite)
    inits = list(dict.fromkeys(name for names in args.init or [list(DEFAULT_INITS)] for name in names))
    from lib.analysis.files import write_report_files
    from lib.studies.weightnorm.figure1_models import model_frame

    df = model_frame(network, inits, samples=args.samples, seed=args.seed, inputs=inputs,
                     batch_size=args.batch_size or BATCH_SIZE, progress=_progress)
    write_report_files(args.out, {f"{stem}.png": draw_model_figure(df)}, f"{stem}.csv", df, caption(df), _progress)
    return 0


def _progress(line: str) -> None:
    print(line, flush=True)


def caption(df) -> str:
    """The ratios at the first, middle and last layer of each curve, one line per (direction, init)."""
    lines = []
    for (direction, init), rows in df.groupby(["direction", "init"], sort=False):
        rows = rows.set_index("layer")
        layers = sorted({rows.index.min(), (rows.index.min() + rows.index.max()) // 2, rows.index.max()})
        cells = "   ".join(f"{layer}: {rows.at[layer, 'mean']:.3g} ± {rows.at[layer, 'std']:.3g}" for layer in layers)
        lines.append(f"{direction:8s} {init:20s} {cells}")
    first = df.iloc[0]
    return (f"Figure 1 on {first['model']} ({first['dataset']}, {first['inputs']} inputs), mean ± std over "
            f"{first['samples']} samples, ratio at layer:\n" + "\n".join(lines))


# Drawing (frame -> axes), in the style of figure1_plots: error bars over samples, a curve per init, log ratios.

INIT_STYLES = {
    "he_g1": {"label": "He (g = 1)", "color": "tab:red", "marker": "o"},
    "he": {"label": "he (g = |v|, PyTorch default)", "color": "tab:orange", "marker": "v"},
    "orthogonal": {"label": "orthogonal (g = |v|)", "color": "tab:purple", "marker": "D"},
    "he_datadep": {"label": "he_datadep", "color": "tab:brown", "marker": "P"},
    "orthogonal_datadep": {"label": "orthogonal_datadep", "color": "tab:pink", "marker": "X"},
    "he_proposed": {"label": "Proposed (He)", "color": "tab:green", "marker": "^", "markerfacecolor": "none",
                    "linestyle": "--"},
    "orthogonal_proposed": {"label": "Proposed (orthogonal)", "color": "tab:blue", "marker": "s"},
}
Y_LABELS = {"forward": r"$\Vert h^l\Vert\,/\,\Vert h^0\Vert$", "backward": r"$\Vert \partial h^l\Vert\,/\,\Vert \partial h^L\Vert$"}


def plot_model_panel(df, ax) -> None:
    """One direction of figure1_models.model_frame for one network: mean ± std per layer, a curve per init, on a
    log axis (the exploding and vanishing inits span decades); residual nets mark where each stage begins."""
    keys = df[["model", "direction"]].drop_duplicates()
    if len(keys) != 1:
        raise ValueError(f"a panel draws one network and direction; got {len(keys)}")
    label, direction = keys.iloc[0]
    for init, rows in df.groupby("init", sort=False):
        rows = rows.sort_values("layer")
        mean, std = rows["mean"].to_numpy(), rows["std"].to_numpy()
        lower = np.minimum(std, 0.99 * mean)  # a log axis has no room below 0
        ax.errorbar(rows["layer"], mean, yerr=[lower, std], markersize=4, linewidth=1, capsize=2,
                    **INIT_STYLES.get(init, {"label": init}))
    ax.axhline(1.0, color="0.5", linestyle=":", linewidth=1)
    if df["network"].iloc[0] in RESIDUAL:
        starts = df[df["layer_name"].str.endswith("_block1_add") & (df["layer"] > 1)]["layer"].unique()
        for start in starts:
            ax.axvline(start - 0.5, color="0.7", linestyle="--", linewidth=1)
    ax.set_yscale("log")
    ax.set_title(f"{label} ({df['dataset'].iloc[0]}, {df['inputs'].iloc[0]} inputs)\n{direction}", fontsize="medium")
    ax.set_xlabel("block b (stages split by dashed lines)" if df["network"].iloc[0] in RESIDUAL else "layer l")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(Y_LABELS[direction])
    ax.grid(alpha=0.3, which="both")


def draw_model_figure(df):
    """Forward and backward panels side by side, one legend, a title naming the sample count."""
    figure = Figure(figsize=(PANEL_SIZE[0] * 2 * 1.3, PANEL_SIZE[1] * 1.3 + 0.6), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, direction in zip(axes, ("forward", "backward")):
        plot_model_panel(df[df["direction"] == direction], ax)
    figure.suptitle("Figure 1 on a real WN network at initialization (Arpit, Campos & Bengio 2019), mean ± std over "
                    f"{', '.join(str(s) for s in np.unique(df['samples']))} samples")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4))
    return figure
