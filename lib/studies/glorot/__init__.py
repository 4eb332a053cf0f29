"""The glorot study: Glorot & Bengio (2010), *Understanding the difficulty of training deep
feedforward neural networks*, flag-compatible with the xavier_init replication.

config.py  the flags (GlorotConfig) and their resolution     run.py     build, train, evaluate
recorder   callbacks/gradient_activation_store.py + lib.storage.records (activations, gradients)
frames.py  records -> DataFrames     plots.py  the paper's figures     report.py  `analyze`
jacobian.py  Eq. 17's layer Jacobians from recorded arrays
"""

from lib.studies import Study, register
from lib.studies.glorot.config import GlorotConfig, resolve, run_path

DESCRIPTION = "Glorot & Bengio 2010: deep feedforward nets, standard vs normalized init"


def run_study(config, argv):
    from lib.studies.glorot.run import run

    return run(config, argv)


def add_analyze_flags(parser):
    from lib.config import non_negative_int, positive_int
    from lib.studies.glorot.frames import DEFAULT_JACOBIAN_EXAMPLES

    parser.add_argument("--epoch", type=non_negative_int, help="glorot: epoch of Fig. 4's histograms (default: the last record)")
    parser.add_argument("--jacobian_examples", type=positive_int, default=DEFAULT_JACOBIAN_EXAMPLES, metavar="K",
                        help=f"glorot: probe examples per layer for the Jacobian singular values "
                             f"(default: {DEFAULT_JACOBIAN_EXAMPLES})")


def analyze(run_dirs, args, progress):
    from lib.studies.glorot.report import write_report

    write_report(run_dirs, args.out, epoch=args.epoch, jacobian_examples=args.jacobian_examples, progress=progress)



def hessian_subject(run_path, config, **request):
    from lib.studies.glorot.hessian import hessian_subject as subject

    return subject(run_path, config, **request)


register(Study("glorot", GlorotConfig, DESCRIPTION, resolve=resolve, run_path=run_path, run=run_study, analyze=analyze,
               add_analyze_flags=add_analyze_flags,
               hessian=hessian_subject))
