"""`python experiment.py hessian RUN_DIR [flags]`: the loss Hessian of a recorded run, of any study.

The run's study rebuilds its model from config.json (its `hessian` hook) with the weights of the
checkpoint or, with `--epoch 0`, of the initialization drawn from the run's seed, and supplies its
loss and the examples of `--split`; lib.hessian.analysis computes the estimates, lib.hessian.files
writes them to RUN_DIR/hessian/<label>.h5 (and summary.csv), lib.hessian.report draws the density.
Every bad input is one line and exit code 2 before anything is computed or written.
"""

import os
import sys
import time

from lib.config import OneLineParser, non_negative_int, positive_float, positive_int, run_name
from lib.errors import UsageError
from lib.hessian.analysis import EXACT_LIMIT, HessianSettings
from lib.hessian.subject import SPLITS

DEFAULTS = HessianSettings()
DESCRIPTION = ("the loss Hessian of a run of any study, at its checkpoint or (--epoch 0) its initialization: top "
               "eigenvalues, trace, spectral density (SLQ), optionally per layer and exact; written to "
               "RUN_DIR/hessian/<label>.h5 with a density figure")


def parser() -> OneLineParser:
    p = OneLineParser(prog="experiment.py hessian", description=DESCRIPTION)
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory of any study, e.g. model_history/mnist1d/<name>")
    p.add_argument("--epoch", type=non_negative_int, help="weights of this epoch: 0 = the initialization rebuilt "
                                                          "from the run's seed (default: the run's checkpoint)")
    p.add_argument("--split", choices=SPLITS, default="test", help="examples from this split (default: test)")
    p.add_argument("--batch_size", type=positive_int, default=DEFAULTS.batch_size,
                   help=f"examples per batch (default: {DEFAULTS.batch_size})")
    p.add_argument("--batches", type=positive_int, default=1,
                   help="average H over this many consecutive batches, weighted by size (default: 1)")
    p.add_argument("--top_k", type=positive_int, default=DEFAULTS.top_k, help="eigenvalues of largest magnitude "
                                                                              f"(default: {DEFAULTS.top_k})")
    p.add_argument("--max_iterations", type=positive_int, default=DEFAULTS.max_iterations,
                   help=f"power iterations per eigenvalue (default: {DEFAULTS.max_iterations})")
    p.add_argument("--tolerance", type=positive_float, default=DEFAULTS.tolerance,
                   help=f"relative change that stops power iteration and the trace (default: {DEFAULTS.tolerance})")
    p.add_argument("--trace_iterations", type=positive_int, default=DEFAULTS.trace_iterations,
                   help=f"most Hutchinson probes (default: {DEFAULTS.trace_iterations})")
    p.add_argument("--probes", type=positive_int, default=DEFAULTS.probes,
                   help=f"stochastic Lanczos quadrature probes n_v (default: {DEFAULTS.probes})")
    p.add_argument("--lanczos_steps", type=positive_int, default=DEFAULTS.lanczos_steps,
                   help=f"Lanczos steps per probe (default: {DEFAULTS.lanczos_steps})")
    p.add_argument("--per_layer", action="store_true", help="also each layer's diagonal block")
    p.add_argument("--exact", action="store_true", help=f"also the full Hessian and all its eigenvalues "
                                                        f"(models of at most {EXACT_LIMIT:,} parameters)")
    p.add_argument("--save_eigenvectors", action="store_true", help="store the top-k eigenvectors")
    p.add_argument("--seed", type=non_negative_int, default=DEFAULTS.seed, help="seed of the random probe vectors")
    p.add_argument("--label", type=run_name, help="file name in RUN_DIR/hessian (default: epoch<N>_<split>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing hessian/<label>.h5")
    p.add_argument("--backend", choices=("tensorflow", "jax"), help="Keras backend (default: the run's)")
    return p


def run_hessian(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    from lib.analysis.files import read_config
    from lib.studies import config_of_run

    chosen, config = config_of_run(args.run_dir, read_config(args.run_dir, "model_history/<dataset>/<run name>"),
                                   "analysed")
    if chosen.hessian is None:
        raise UsageError(f"the {chosen.name} study has no Hessian hook")
    from lib.runs.run_dir import run_lock

    with run_lock(args.run_dir):  # one writer per run: not while it trains (its checkpoint changes), nor two at once
        return _analyse(args, chosen, config)


def _analyse(args, chosen, config) -> int:
    from lib.hessian import files

    if args.label and os.path.exists(files.hessian_path(args.run_dir, args.label)) and not args.overwrite:
        raise UsageError(f"{files.hessian_path(args.run_dir, args.label)} exists; pass --overwrite or another --label")
    settings = HessianSettings(batch_size=args.batch_size, top_k=args.top_k, max_iterations=args.max_iterations,
                               tolerance=args.tolerance, trace_iterations=args.trace_iterations, probes=args.probes,
                               lanczos_steps=args.lanczos_steps, per_layer=args.per_layer, exact=args.exact,
                               save_eigenvectors=args.save_eigenvectors, seed=args.seed)
    import keras

    from lib.hessian.analysis import analyze
    from lib.hessian.files import HessianRecord

    subject = chosen.hessian(args.run_dir, config, epoch=args.epoch, split=args.split,
                             count=args.batch_size * args.batches)
    label = args.label or f"epoch{subject.epoch}_{args.split}"
    path = files.hessian_path(args.run_dir, label)
    if os.path.exists(path) and not args.overwrite:
        raise UsageError(f"{path} exists; pass --overwrite or another --label")
    size = sum(int(keras.ops.size(variable)) for variable in subject.model.trainable_variables)
    if args.exact and size > EXACT_LIMIT:
        raise UsageError(f"--exact: the model has {size:,} parameters, more than the {EXACT_LIMIT:,} whose full "
                         "Hessian initlab builds")
    print(f"hessian: {chosen.name} run {args.run_dir}, epoch {subject.epoch}, {len(subject.data)} {args.split} "
          f"examples in batches of {args.batch_size}, {size:,} parameters, {keras.backend.backend()}", flush=True)
    started = time.perf_counter()
    progress = Progress()
    spectra = analyze(subject, settings, progress)
    progress.done()
    record = HessianRecord(label, subject.epoch, args.split, len(subject.data), keras.backend.backend(), settings, spectra)
    files.write(args.run_dir, record)
    from lib.hessian.report import describe, write_run_figure

    figure = write_run_figure(args.run_dir, record)
    print(f"{describe(record)}\n({time.perf_counter() - started:.1f} s) wrote {path}, {figure} and "
          f"{os.path.join(args.run_dir, files.FOLDER, files.SUMMARY)}", flush=True)
    return 0


class Progress:
    """One line per iteration: rewritten in place on a terminal; in a log, at most one line every
    INTERVAL seconds (and each estimate's first line), so long analyses stay readable."""

    INTERVAL = 5.0

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.last_time, self.last_topic = 0.0, None

    def __call__(self, line: str) -> None:
        if self.tty:
            self.stream.write(f"\r\033[K{line}")
            self.stream.flush()
            return
        topic = line.split(",")[0]  # "<block>: eigenvalue 2/5", "<block>: trace", "<block>: probe 1/3"
        now = time.monotonic()
        if topic != self.last_topic or now - self.last_time >= self.INTERVAL:
            print(line, file=self.stream, flush=True)
            self.last_time, self.last_topic = now, topic

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
