"""The glorot study's Hessian hook (lib.hessian): the feedforward net of a run, rebuilt from its config,
with the weights of its checkpoint or of its initialization, and the categorical cross-entropy it
trains with (on the softmax outputs, as the paper)."""

from lib.hessian.subject import HessianSubject, compiled_loss, first_examples, restore_weights
from lib.studies.glorot.config import GlorotConfig, resolve


def hessian_subject(run_path: str, config: GlorotConfig, *, epoch: int | None, split: str, count: int) -> HessianSubject:
    import keras

    from lib.studies.glorot.run import build_model, load_data

    config, splits = load_data(resolve(config))
    keras.utils.set_random_seed(config.seed)  # as train() before it builds the model
    model = build_model(config, int(splits.validation.flat().x.shape[1]), splits.num_classes)
    epoch = restore_weights(run_path, model, epoch)
    data = first_examples(getattr(splits, split), count, splits.num_classes).flat()
    return HessianSubject(model, compiled_loss(model), data, epoch)
