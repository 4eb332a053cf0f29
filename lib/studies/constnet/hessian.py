"""The constnet study's Hessian hook (lib.hessian): the ConstNet or LeakyNet of a run, rebuilt from its
config, with the weights of its checkpoint or of its initialization, BatchNorm on its moving
statistics, and the cross-entropy on logits it trains with. Weight decay, an optimizer term in the
original (PyTorch's SGD), is not part of the loss whose Hessian is taken, as in PyHessian."""

from lib.hessian.subject import HessianSubject, compiled_loss, first_examples, restore_weights
from lib.studies.constnet.config import ConstnetConfig, resolve


def hessian_subject(run_path: str, config: ConstnetConfig, *, epoch: int | None, split: str,
                    count: int) -> HessianSubject:
    import keras

    from lib.studies.constnet.run import build_model, load_data, steps_per_epoch

    config = resolve(config)
    train, test, num_classes = load_data(config)
    keras.utils.set_random_seed(config.seed)  # as train() before it builds the model
    model = build_model(config, test.x.shape[1:], num_classes, steps_per_epoch(config, train))
    epoch = restore_weights(run_path, model, epoch)
    data = first_examples(train if split == "train" else test, count, num_classes)
    return HessianSubject(model, compiled_loss(model), data, epoch)
