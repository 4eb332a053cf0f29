"""The diversity study's Hessian hook (lib.hessian): a validation run's network (pure, diverse or base),
as DiversityNN compares their spectra. The trained network is the run's model.keras (run 0's, written
with --save_model); --epoch 0 rebuilds run 0's initialization from the run's seed. A metalearning run
trains a fresh classifier at every outer step, so it has no one network to analyse."""

import os

from lib.errors import UsageError
from lib.hessian.subject import HessianSubject, first_examples
from lib.studies.diversity.config import DiversityConfig, resolve


def hessian_subject(run_path: str, config: DiversityConfig, *, epoch: int | None, split: str,
                    count: int) -> HessianSubject:
    import keras

    from lib.studies.diversity.activation_files import load
    from lib.studies.diversity.validation import MODEL_FILE, arm_activations, build_network, load_splits

    config = resolve(config)
    if not config.is_validation:
        raise UsageError(f"{run_path} is a metalearning run, which trains a new classifier at every outer step; "
                         "analyse a validation run (--act_path ... --save_model)")
    train, test = load_splits(config.dataset, seed=config.seed)
    data = first_examples(train if split == "train" else test, count, test.y.shape[1])
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    if epoch == 0:
        learned = load(config.act_path)
        arm = arm_activations(learned, config.validation_mode, learned.base or config.activation,
                              hidden=config.inner_hidden_size)
        return HessianSubject(build_network(arm, train.x.shape[1:], train.y.shape[1], config.seed), loss, data, 0)
    model_path = os.path.join(run_path, MODEL_FILE)
    if not os.path.isfile(model_path):
        raise UsageError(f"{run_path} has no {MODEL_FILE} (run it with --save_model); pass --epoch 0 for the "
                         "initialization")
    if epoch is not None and epoch != config.epochs:
        raise UsageError(f"{run_path} keeps the network after its last epoch, {config.epochs}, not epoch {epoch} "
                         "(pass --epoch 0 for the initialization)")
    import models  # noqa: F401  (registers initlab's layers, e.g. PiecewiseLinearActivation, which model.keras names)
    from lib.initializers import torch_linear  # noqa: F401  (and the initializers)

    try:
        model = keras.models.load_model(model_path)
    except (OSError, ValueError, TypeError) as error:
        raise UsageError(f"cannot load {model_path}: {str(error).splitlines()[0]}") from None
    return HessianSubject(model, loss, data, config.epochs)
