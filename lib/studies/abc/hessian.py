"""The abc study's Hessian hook (lib.hessian): `experiment.py hessian <run path>/trial_<i>` rebuilds the
trial's network from its config and trial seed, with the weights of its checkpoint or of its
initialization, and takes the batch-mean cross-entropy on the logits (a file's `loss.params.reduction: sum`
scales the Hessian by the batch size; the mean keeps spectra of different batch sizes comparable).

A run path holds one run directory per trial, so the hook takes a trial folder and refuses the run path."""

import json
import os

from lib.errors import UsageError
from lib.hessian.subject import HessianSubject, first_examples, restore_weights
from lib.studies.abc.config import NUM_CLASSES, AbcConfig, resolve


def trial_seed(run_path: str) -> int:
    from lib.studies.abc.run import TRIAL_FILE

    try:
        with open(os.path.join(run_path, TRIAL_FILE)) as f:
            return int(json.load(f)["seed"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{run_path} is an abc run of several trials (no readable {TRIAL_FILE}): pass one of its "
                         f"trial folders, e.g. {os.path.join(run_path, 'trial_0')}") from None


def hessian_subject(run_path: str, config: AbcConfig, *, epoch: int | None, split: str, count: int) -> HessianSubject:
    import keras

    from lib.datasets import pipeline
    from lib.studies.abc.run import build_model, load_data, schedule

    seed = trial_seed(run_path)
    config = resolve(config)
    data = load_data(config)
    _, steps, _ = schedule(config, len(data.train))
    inputs = pipeline.fit_inputs(data.train, batch_size=config.batch_size, steps_per_epoch=steps,
                                 num_classes=NUM_CLASSES, flat=True, seed=seed)
    model, _ = build_model(config, data, inputs, seed)
    epoch = restore_weights(run_path, model, epoch)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    return HessianSubject(model, loss, first_examples(getattr(data, split), count, NUM_CLASSES), epoch)
