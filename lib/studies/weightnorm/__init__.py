"""The weightnorm study: Arpit, Campos & Bengio (2019), *How to Initialize your Network? Robust
Initialization for WeightNorm & ResNets*, flag-compatible with weightnorm-init's train.py
(reference/weightnorm_abc.md, Part A).

config.py         the flags (WeightnormConfig), their resolution and the run path
schedules.py      the learning rate: annealing types 0-5 and the per-iteration quadratic warmup
figure1.py        Figure 1's synthetic signal-propagation experiment, in NumPy (§A6)
figure1_plots.py  Figure 1 drawn from figure1's frame
data_dependent.py the data-dependent init of *_datadep on the first training batch (§A4)

Not registered yet: this file registers the Study (lib/studies/__init__.py) once run.py exists.
"""
