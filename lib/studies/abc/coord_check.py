"""mup's coordinate check (reference/weightnorm_abc.md §C7 `get_coord_data`) for the abc MLP: a DataFrame.

For each parameterization, width and seed, a fresh `abc_mlp` is trained by plain SGD on one fixed batch
(mup's `fix_data=True`) for `steps − 1` updates; at every step t = 1..steps (t = 1 at init, before any
update; step t sees the weights after t − 1 updates, as mup's forward hooks do) the output of every
layer is read with the glorot study's recorder (lib.backend.gradients.FeedforwardProbe: the
pre-activations h_l `input_layer`, `hidden_l`, the activations x_l `act_l` and the logits
`output_layer`, as mup hooks every module) and summarised over the batch and the units:

    l1        mean |x|               (mup's l1, the statistic of its plot)
    l2        sqrt(mean x²)          (mup's l2)
    mean, std mean and std of x      (mup's mean, std)
    max_abs   max |x|
    delta_l1  mean |x_t − x_1|       the coordinate size of the change since init (0 at t = 1)

mup's covariance statistics (covl1, covl2, covoffdiag*) are left out: they cost a width² matrix per layer.

The SGD update of layer l uses lr·m^{−c_l} (`ScaledLearningRate` with `models.abc_mlp.lr_scales`), and
IP-LLR's first `n_warmup_steps` updates its warm-up scales (§B2). `lr` defaults to mup's 0.1 for SGD
(`get_coord_data(lr=None)`), the same base η for every parameterization, so the curves compare the
parameterizations' width exponents, not tuned rates. The batch: 64 training examples of `digits` (mup's
MLP example's batch size; an offline dataset, so the check runs without a network), or of `mnist1d`, or
x ~ N(0, I) of the digits' shape (`gaussian`); the labels are the dataset's (random classes for gaussian).

Theory the checks of `slopes` are read against (§C7 "Expected look"): under μP every hidden layer's l1 is
flat in width at every t, the logits shrink like m^{−½} at init; under SP (one lr for all layers) the
first update moves a hidden pre-activation by Θ(η·m^{½}) (dL/dh ~ m^{−½}, summed over m inputs), so its
l1 grows like m^{½} once the update dominates the Θ(1) init, and the logits like m.
"""

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

DATASETS = ("digits", "mnist1d", "gaussian")
DEFAULT_PARAMETERIZATIONS = ("mup", "sp", "ntk", "ipllr")
DEFAULT_WIDTHS = tuple(2 ** k for k in range(6, 13))  # 64 .. 4096
DEFAULT_STEPS = 3  # mup's nsteps
DEFAULT_SEEDS = 5  # mup's MLP example --coord_check_nseeds
DEFAULT_LR = 0.1  # mup's get_coord_data default for SGD
DEFAULT_BATCH_SIZE = 64  # mup's MLP example --batch_size
DEFAULT_N_LAYERS = 3  # mup's MLP example: input → width → width → readout, three weight matrices
DEFAULT_ACTIVATION = "relu"
DATA_SEED = 0  # the fixed batch is the same for every seed, width and parameterization

STATISTICS = ("l1", "l2", "mean", "std", "max_abs", "delta_l1")
COLUMNS = ("parameterization", "width", "seed", "t", "module", "layer", "kind", *STATISTICS, "lr", "optimizer",
           "n_layers", "activation", "dataset", "batch_size")


def fixed_batch(dataset: str = "digits", batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The batch every step of the check trains and measures on (mup's fix_data): the first `batch_size`
    training examples of `dataset`, or x ~ N(0, I) in the digits' shape with random one-hot labels."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown coord-check dataset '{dataset}' (valid: {', '.join(DATASETS)})")
    rng = np.random.default_rng(DATA_SEED)
    if dataset == "gaussian":
        x = rng.standard_normal((batch_size, 8, 8, 1)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch_size)]
        return x, y
    from lib.datasets import DATASETS as REGISTRY

    train = REGISTRY.build(dataset, seed=DATA_SEED).train
    if len(train.x) < batch_size:
        raise ValueError(f"{dataset} has {len(train.x)} training examples, fewer than the batch size {batch_size}")
    return np.asarray(train.x[:batch_size], np.float32), np.asarray(train.y[:batch_size], np.float32)


def probed_layers(n_layers: int) -> list[tuple[str, int, str]]:
    """(name, layer index l, kind) of every layer output the check records, in forward order."""
    layers = []
    for layer in range(n_layers - 1):
        layers.append(("input_layer" if layer == 0 else f"hidden_{layer}", layer, "preactivation"))
        layers.append((f"act_{layer}", layer, "activation"))
    layers.append(("output_layer", n_layers - 1, "output"))
    return layers


def coord_check_frame(parameterizations: Sequence[str] = DEFAULT_PARAMETERIZATIONS,
                      widths: Sequence[int] = DEFAULT_WIDTHS, *, steps: int = DEFAULT_STEPS, seeds: int = DEFAULT_SEEDS,
                      lr: float = DEFAULT_LR, n_layers: int = DEFAULT_N_LAYERS, activation: str = DEFAULT_ACTIVATION,
                      dataset: str = "digits", batch_size: int = DEFAULT_BATCH_SIZE, n_warmup_steps: int = 1,
                      progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """The coordinate check's frame: one row per (parameterization, width, seed, t, module), COLUMNS.

    Seeds 0..seeds−1 seed the model (the batch is fixed). `progress` gets one line per model.
    """
    if steps < 1 or seeds < 1:
        raise ValueError(f"steps and seeds must be at least 1, got {steps} and {seeds}")
    x, y = fixed_batch(dataset, batch_size)
    rows = []
    for name in parameterizations:
        for width in widths:
            per_seed = _measure(name, int(width), seeds, x, y, steps=steps, lr=lr, n_layers=n_layers,
                                activation=activation, n_warmup_steps=n_warmup_steps, progress=progress)
            for seed, records in enumerate(per_seed):
                for t, module, layer, kind, stats in records:
                    rows.append({"parameterization": name, "width": int(width), "seed": seed, "t": t, "module": module,
                                 "layer": layer, "kind": kind, **stats})
    df = pd.DataFrame(rows)
    df = df.assign(lr=float(lr), optimizer="sgd", n_layers=n_layers, activation=activation, dataset=dataset,
                   batch_size=batch_size)
    return df[list(COLUMNS)]


def _measure(name: str, width: int, seeds: int, x: np.ndarray, y: np.ndarray, *, steps: int, lr: float,
             n_layers: int, activation: str, n_warmup_steps: int,
             progress: Callable[[str], None] | None = None) -> list[list]:
    """Per seed 0..seeds−1, [(t, module, layer, kind, statistics)] of the model of that seed trained on (x, y)
    for steps − 1 SGD updates.

    One model, optimizer and probe serve every seed: each seed's initial weights are loaded into it and the
    optimizer's variables (its update counter included, so IP-LLR's warm-up comes again) reset to their
    built values. Building them per seed would compile the probe and the train step again for every seed,
    which on JAX took most of the check's time (bench/abc_coord_check_time.py); the numbers are the same.
    """
    import keras

    from lib.backend.gradients import FeedforwardProbe
    from lib.optimizers.scaled_lr import ScaledLearningRate
    from models import MODELS
    from models.abc_mlp import lr_scales

    def build(seed: int):
        return MODELS.build("abc_mlp", x.shape[1:], y.shape[1], seed=seed, parameterization=name, width=width,
                            n_layers=n_layers, activation=activation, n_warmup_steps=n_warmup_steps)

    model = build(0)
    warmup = name in ("ipllr", "ipllr_bias")
    optimizer = ScaledLearningRate(keras.optimizers.SGD(lr), lr_scales(model),
                                   warmup_scales=lr_scales(model, warmup=True) if warmup else None,
                                   n_warmup_steps=n_warmup_steps if warmup else 0)
    model.compile(optimizer=optimizer, loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    optimizer.build(model.trainable_variables)
    built_state = [keras.ops.convert_to_numpy(variable.value) for variable in optimizer.variables]
    layers = probed_layers(n_layers)
    probe = FeedforwardProbe(model, [module for module, _, _ in layers], loss=_logits_crossentropy)
    per_seed = []
    for seed in range(seeds):
        model.set_weights(build(seed).get_weights())
        for variable, value in zip(optimizer.variables, built_state):
            variable.assign(value)
        records, initial = [], {}
        for t in range(1, steps + 1):
            outputs = probe.capture(x, y).preactivations  # each probed layer's own output
            for module, layer, kind in layers:
                value = outputs[module].astype(np.float64)
                initial.setdefault(module, value)
                records.append((t, module, layer, kind, _statistics(value, initial[module])))
            if t < steps:
                model.train_on_batch(x, y)
        per_seed.append(records)
        if progress:
            progress(f"coord check: {name} width {width} seed {seed} done")
    return per_seed


def _logits_crossentropy(y, logits):
    import keras

    return keras.losses.categorical_crossentropy(y, logits, from_logits=True)


def _statistics(value: np.ndarray, initial: np.ndarray) -> dict[str, float]:
    magnitude = np.abs(value)
    return {"l1": float(magnitude.mean()), "l2": float(np.sqrt(np.mean(value ** 2))), "mean": float(value.mean()),
            "std": float(value.std()), "max_abs": float(magnitude.max()),
            "delta_l1": float(np.abs(value - initial).mean())}


def slopes(df: pd.DataFrame, y: str = "l1") -> pd.DataFrame:
    """The log-log slope of `y` against width (least squares of log₂ mean-over-seeds `y` on log₂ width) per
    (parameterization, module, t): 0 is flat in width, ½ grows like √m. Columns: parameterization, module,
    layer, kind, t, slope, and `y` at the smallest and largest width."""
    rows = []
    keys = ["parameterization", "module", "layer", "kind", "t"]
    for key, group in df.groupby(keys, sort=False):
        means = group.groupby("width")[y].mean().sort_index()
        widths, values = means.index.to_numpy(float), means.to_numpy(float)
        fit = np.polyfit(np.log2(widths), np.log2(values), 1)[0] if len(widths) > 1 and np.all(values > 0) else np.nan
        rows.append({**dict(zip(keys, key)), "slope": float(fit), f"{y}_min_width": float(values[0]),
                     f"{y}_max_width": float(values[-1])})
    return pd.DataFrame(rows)
