"""The constnet study: Blumenfeld, Gilboa & Soudry (2020), *Beyond Signal Propagation: Is
Feature Diversity Necessary in Deep Neural Network Initialization?*, flag-compatible with
BeyondSigProp's train.py.

config.py        the flags (ConstnetConfig) and their resolution   run.py   build, train, evaluate
correlations.py  mean pair correlations of weight rows and channels (keras.ops, on the device)
meter.py         one correlations.h5 row per epoch     writers.py  correlations.h5 and TensorBoard
schedules.py     the epoch-step learning-rate drops (SGD in PyTorch's form: lib/optimizers/pytorch_sgd.py)
sweep.py         the LeakyNet sweep (`constnet sweep`, also `sweep` without a grid file), through lib.sweeps
frames.py / plots.py / report.py                       `analyze`: correlation curves
"""

from lib.studies import Study, register
from lib.studies.constnet.config import ConstnetConfig, resolve, run_path

DESCRIPTION = "Blumenfeld et al. 2020: ConstNet / LeakyNet Wide-ResNets, symmetry breaking, weight correlations"
SWEEP_HELP = "the seven LeakyNet runs of lrnet_experiment.sh (constnet flags override its defaults)"


def run_study(config, argv):
    from lib.studies.constnet.run import run

    return run(config, argv)


def analyze(run_dirs, args, progress):
    from lib.studies.constnet.report import write_correlation_report

    write_correlation_report(run_dirs, args.out, progress=progress)


def sweep(argv):
    from lib.studies.constnet.sweep import run_sweep

    return run_sweep(argv)



def hessian_subject(run_path, config, **request):
    from lib.studies.constnet.hessian import hessian_subject as subject

    return subject(run_path, config, **request)


register(Study("constnet", ConstnetConfig, DESCRIPTION, resolve=resolve, run_path=run_path, run=run_study, analyze=analyze,
               subcommands={"sweep": (SWEEP_HELP, sweep)},
               hessian=hessian_subject))
