"""`python experiment.py abc coord_check [flags]`: mup's coordinate check (reference/weightnorm_abc.md §C7) on the
abc MLP, with mup's flags where it has them (`--coord_check_nsteps` / `--coord_check_nseeds` of its MLP example are
--steps / --seeds here).

Writes into --out: coord_check.csv (coord_check.COLUMNS, one row per parameterization, width, seed, step t and
module), coord_check_slopes.csv (per parameterization, module and t, the log-log slope against width of l1, `slope`, and
of the change since init delta_l1, `delta_l1_slope`, which isolates the updates from the init) and
coord_check_<parameterization>.png (mup's plot: one panel per t, log₂ width on x, one line per module), and prints
the hidden layers' slopes. Every bad input is one line and exit code 2 before anything is computed, and no file is
replaced without --overwrite.
"""

import argparse
import os

from lib.analysis.files import check_out_folder
from lib.config import OneLineParser, positive_float, positive_int
from lib.environment import BACKENDS
from lib.errors import UsageError
from lib.studies.abc import coord_check
from lib.studies.abc.parameterizations import ACTIVATIONS, PARAMETERIZATIONS

DEFAULT_OUT = os.path.join("figures", "abc_coord_check")
TABLE_FILE = "coord_check.csv"
SLOPES_FILE = "coord_check_slopes.csv"
DESCRIPTION = ("mup's coordinate check: mean |output| (l1) and mup's other statistics of every layer of the abc MLP "
               "against width, at init (t = 1) and after each of the first SGD updates on one fixed batch; "
               "mup's plot per parameterization")


def parameterization_list(text: str) -> list[str]:
    """--parameterization: comma-separated names of parameterizations.PARAMETERIZATIONS."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in PARAMETERIZATIONS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parameterization '{unknown[0]}' (valid: {', '.join(PARAMETERIZATIONS)})")
    return list(dict.fromkeys(names))


def width_list(text: str) -> list[int]:
    """--widths: comma-separated integers >= 1, at least two (a slope needs two widths); `64,...,4096` (or `..`)
    fills in the doublings between the ends, as mup's widths 2^k."""
    parts = [part.strip() for part in text.split(",")]
    if len(parts) == 3 and parts[1] in ("...", ".."):
        parts = [parts[0], parts[2]]
        start, stop = (positive_int(part) for part in parts)
        if stop <= start:
            raise argparse.ArgumentTypeError(f"the last width must exceed the first, got '{text}'")
        widths = [start]
        while widths[-1] * 2 <= stop:
            widths.append(widths[-1] * 2)
        if widths[-1] != stop:
            raise argparse.ArgumentTypeError(f"'{text}': {stop} is not {start} times a power of 2")
        return widths
    try:
        widths = sorted({positive_int(part) for part in parts})
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"must be comma-separated integers >= 1 (or FIRST,...,LAST), got '{text}'") \
            from None
    if len(widths) < 2:
        raise argparse.ArgumentTypeError(f"needs at least two different widths, got '{text}'")
    return widths


def parser() -> OneLineParser:
    p = OneLineParser(prog="experiment.py abc coord_check", description=DESCRIPTION)
    p.add_argument("--parameterization", type=parameterization_list,
                   default=list(coord_check.DEFAULT_PARAMETERIZATIONS), metavar="NAME[,NAME...]",
                   help=f"comma-separated (valid: {', '.join(PARAMETERIZATIONS)}; default: "
                        f"{','.join(coord_check.DEFAULT_PARAMETERIZATIONS)})")
    default_widths = coord_check.DEFAULT_WIDTHS
    p.add_argument("--widths", type=width_list, default=list(default_widths), metavar="W,W[,...]",
                   help=f"comma-separated widths, or FIRST,...,LAST for the doublings (default: {default_widths[0]},...,"
                        f"{default_widths[-1]})")
    p.add_argument("--steps", "--coord_check_nsteps", type=positive_int, default=coord_check.DEFAULT_STEPS,
                   help=f"steps t = 1..steps recorded, t = 1 at init (mup's nsteps; default: {coord_check.DEFAULT_STEPS})")
    p.add_argument("--seeds", "--coord_check_nseeds", type=positive_int, default=coord_check.DEFAULT_SEEDS,
                   help=f"model seeds per width (mup's nseeds; default: {coord_check.DEFAULT_SEEDS})")
    p.add_argument("--lr", type=positive_float, default=coord_check.DEFAULT_LR,
                   help=f"base SGD learning rate eta, layer l uses eta*m^-c_l (mup's SGD default: {coord_check.DEFAULT_LR})")
    p.add_argument("--n_layers", type=positive_int, default=coord_check.DEFAULT_N_LAYERS,
                   help=f"weight matrices L + 1, at least 2 (default: {coord_check.DEFAULT_N_LAYERS}, mup's MLP example)")
    p.add_argument("--activation", choices=ACTIVATIONS, default=coord_check.DEFAULT_ACTIVATION,
                   help=f"(default: {coord_check.DEFAULT_ACTIVATION})")
    p.add_argument("--n_warmup_steps", type=positive_int, default=1,
                   help="ipllr, ipllr_bias: updates taken with the large warm-up learning rates (default: 1)")
    p.add_argument("--dataset", choices=coord_check.DATASETS, default="digits",
                   help="where the fixed batch comes from (default: digits)")
    p.add_argument("--batch_size", type=positive_int, default=coord_check.DEFAULT_BATCH_SIZE,
                   help=f"examples in the fixed batch (default: {coord_check.DEFAULT_BATCH_SIZE})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"folder for the CSVs and PNGs (default: {DEFAULT_OUT})")
    p.add_argument("--overwrite", action="store_true", help="replace existing files of the same names in --out")
    p.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    return p


def run_coord_check(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.n_layers < 2:
        raise UsageError(f"--n_layers counts the weight matrices L + 1 and must be at least 2, got {args.n_layers}")
    if args.batch_size > 1000 and args.dataset != "gaussian":
        raise UsageError(f"--batch_size {args.batch_size} is larger than {args.dataset}'s training set allows; "
                         "pass at most 1000 or --dataset gaussian")
    if args.backend:
        from lib.environment import check_backend

        check_backend(args.backend)
    figures = {f"coord_check_{name}.png": name for name in args.parameterization}
    check_out_folder(args.out, [TABLE_FILE, SLOPES_FILE, *figures], args.overwrite)

    from lib.analysis.files import write_figures
    from lib.studies.abc.coord_check_plots import draw_coord_figure

    df = coord_check.coord_check_frame(args.parameterization, args.widths, steps=args.steps, seeds=args.seeds,
                                       lr=args.lr, n_layers=args.n_layers, activation=args.activation,
                                       dataset=args.dataset, batch_size=args.batch_size,
                                       n_warmup_steps=args.n_warmup_steps, progress=_progress)
    keys = ["parameterization", "module", "layer", "kind", "t"]
    slopes = coord_check.slopes(df).merge(
        coord_check.slopes(df[df["t"] > 1], "delta_l1").rename(columns={"slope": "delta_l1_slope"}), on=keys, how="left")
    write_figures(args.out, {file: draw_coord_figure(df[df["parameterization"] == name])
                             for file, name in figures.items()}, _progress)
    for name, frame in ((TABLE_FILE, df), (SLOPES_FILE, slopes)):
        path = os.path.join(args.out, name)
        frame.to_csv(path, index=False)
        _progress(f"wrote {path}")
    _progress(caption(slopes))
    return 0


def caption(slopes) -> str:
    """The log-log slope of l1 against width of every module, a row per (parameterization, module), a column per t."""
    table = slopes.pivot_table(index=["parameterization", "layer", "kind", "module"], columns="t", values="slope",
                               sort=False)
    lines = [f"{'parameterization':16s} {'module':14s} " + " ".join(f"t={t:<6d}" for t in table.columns)]
    for (name, _, _, module), row in table.iterrows():
        lines.append(f"{name:16s} {module:14s} " + " ".join(f"{value:+7.3f}" for value in row))
    return "log-log slope of l1 against width (0: flat in width, +0.5: grows like sqrt(width)):\n" + "\n".join(lines)


def _progress(line: str) -> None:
    print(line, flush=True)
