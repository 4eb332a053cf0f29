"""The weightnorm study: Arpit, Campos & Bengio (2019), *How to Initialize your Network? Robust
Initialization for WeightNorm & ResNets*, flag-compatible with weightnorm-init's train.py
(reference/weightnorm_abc.md, Part A).

config.py         the flags (WeightnormConfig), their resolution and the run path
schedules.py      the learning rate: annealing types 0-5 and the per-iteration quadratic warmup
figure1.py        Figure 1's synthetic signal-propagation experiment, in NumPy (§A6)
figure1_plots.py  Figure 1 drawn from figure1's frame
data_dependent.py the data-dependent init of *_datadep on the first training batch (§A4)
run.py            data, model, SGD with accumulation, best-validation test score; --hessian at init
hessian.py        the Hessian hook (lib.hessian)
figure1_models.py / figure1_command.py   `experiment.py weightnorm figure1`: Figure 1, synthetic and on the real models
frames.py / plots.py / report.py         `analyze`: curves, depth and learning-rate robustness, Hessian table
"""

from lib.studies import Study, register
from lib.studies.weightnorm.config import WeightnormConfig, resolve, run_path

DESCRIPTION = "Arpit et al. 2019: weight-normalized MLPs, CNNs and ResNets with the proposed initialization"
FIGURE1_HELP = ("Figure 1: forward and backward signal ratios against depth, synthetic (the paper's) or on "
                "initlab's real models at initialization (--nn)")


def run_study(config, argv):
    from lib.studies.weightnorm.run import run

    return run(config, argv)


def analyze(run_dirs, args, progress):
    from lib.studies.weightnorm.report import write_weightnorm_report

    write_weightnorm_report(run_dirs, args.out, progress=progress)


def run_figure1_command(argv):
    from lib.studies.weightnorm.figure1_command import run_figure1

    return run_figure1(argv)


def hessian_subject(run_path, config, **request):
    from lib.studies.weightnorm.hessian import hessian_subject as subject

    return subject(run_path, config, **request)


register(Study("weightnorm", WeightnormConfig, DESCRIPTION, resolve=resolve, run_path=run_path, run=run_study,
               analyze=analyze, subcommands={"figure1": (FIGURE1_HELP, run_figure1_command)}, hessian=hessian_subject))
