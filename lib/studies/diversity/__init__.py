"""The diversity study: Choudhary et al. (2022), *Neural networks embrace diversity*, flag-compatible with
DiversityNN's Driver.py (reference/diversity.md).

config.py          the flags (DiversityConfig) and their resolution     run.py   metalearn, or validate
networks.py        the activation networks and the classifier as keras.ops functions of their parameters
metalearn.py       the outer loop: metagradient (lib.backend.metagradient), clamped heavy-ball update
writers.py         history.h5, activations.h5/.txt, TensorBoard, checkpoints of a metalearning run
activation_files.py  learned-activation files: initlab's and the original's text files
validation.py      validation networks with the learned functions: pure, diverse, base
compare.py         `experiment.py diversity compare RUN_DIR`: every arm on the same seeds, paired differences
frames.py / plots.py / report.py                                         `analyze`
"""

from lib.studies import Study, register
from lib.studies.diversity.config import DiversityConfig, resolve, run_path

DESCRIPTION = "Choudhary et al. 2022: learnable per-neuron activations by metalearning, pure vs diverse"
COMPARE_HELP = "train pure (each k), diverse and base validation networks on the same seeds; mean +- std and paired differences"


def run_study(config, argv):
    from lib.studies.diversity.run import run

    return run(config, argv)


def add_analyze_flags(parser):
    from lib.studies.diversity.config import activation_steps

    parser.add_argument("--activation_steps", type=activation_steps, metavar="S1,S2,...",
                        help="diversity: outer steps of the learned-activation panels (default: 0, the middle "
                             "and the last recorded step of each run)")


def analyze(run_dirs, args, progress):
    from lib.studies.diversity.report import write_report

    write_report(run_dirs, args.out, steps=args.activation_steps, progress=progress)


def run_compare_command(argv):
    from lib.studies.diversity.compare import run_compare

    return run_compare(argv)



def hessian_subject(run_path, config, **request):
    from lib.studies.diversity.hessian import hessian_subject as subject

    return subject(run_path, config, **request)


register(Study("diversity", DiversityConfig, DESCRIPTION, resolve=resolve, run_path=run_path, run=run_study, analyze=analyze,
               add_analyze_flags=add_analyze_flags, subcommands={"compare": (COMPARE_HELP, run_compare_command)},
               hessian=hessian_subject))
