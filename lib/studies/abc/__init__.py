"""The abc study: abc-parameterizations (Yang & Hu 2021) and IP-LLR (Hajjar, Chizat & Giraud 2021), run as
karl-hajjar/wide-networks runs them (reference/weightnorm_abc.md, Part B).

config.py / model_config.py  the flags and the ModelConfig yaml file (configs/: the original's examples)
parameterizations.py         the a, b, c exponents of each parameterization (§B2)
calibration.py               IP-LLR's first-step base learning-rate calibration
run.py                       data, trials, model, ScaledLearningRate optimizer, best-validation test score
trials.py                    trial folders and where a run stands (the sweeps' run_state hook)
steps.py                     the per-step record (per_step/history.h5) and the original's TensorBoard tags
coord_check*.py              `experiment.py abc coord_check`: mup's coordinate check on the glorot recorder
frames.py / plots.py / report.py   `experiment.py analyze`: results per activation, loss and mean |output| per step
hessian.py                   the Hessian hook (lib.hessian), on a trial folder
"""

from lib.studies import Study, register
from lib.studies.abc.config import AbcConfig, resolve, run_path
from lib.studies.abc.trials import run_state

DESCRIPTION = "Yang & Hu 2021 / Hajjar et al. 2021: fully connected nets in abc-parameterizations (muP, IP, IP-LLR)"
COORD_CHECK_HELP = ("mup's coordinate check: mean |activation| per layer against width at the first steps, one "
                    "figure per parameterization")


def run_study(config, argv):
    from lib.studies.abc.run import run

    return run(config, argv)


def analyze(run_dirs, args, progress):
    from lib.studies.abc.report import write_abc_report

    write_abc_report(run_dirs, args.out, progress=progress)


def hessian_subject(run_path, config, **request):
    from lib.studies.abc.hessian import hessian_subject as subject

    return subject(run_path, config, **request)


def coord_check_command(argv):
    from lib.studies.abc.coord_check_command import run_coord_check

    return run_coord_check(argv)


register(Study("abc", AbcConfig, DESCRIPTION, resolve=resolve, run_path=run_path, run=run_study, analyze=analyze,
               subcommands={"coord_check": (COORD_CHECK_HELP, coord_check_command)}, hessian=hessian_subject, run_state=run_state))
