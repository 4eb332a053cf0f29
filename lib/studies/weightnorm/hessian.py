"""The weightnorm study's Hessian hook (lib.hessian): a run's network rebuilt from its config, with the
weights of its checkpoint or of its initialization (the data-dependent init redone on the same first
training batch), the cross-entropy on the logits it trains with, and the examples of a split."""

from lib.hessian.subject import HessianSubject, compiled_loss, first_examples, restore_weights
from lib.studies.weightnorm.config import WeightnormConfig, resolve


def hessian_subject(run_path: str, config: WeightnormConfig, *, epoch: int | None, split: str,
                    count: int) -> HessianSubject:
    from lib.studies.weightnorm.run import fit_inputs, initial_model, load_data

    config = resolve(config)
    data = load_data(config)
    model = initial_model(config, data, fit_inputs(config, data))
    epoch = restore_weights(run_path, model, epoch)
    return HessianSubject(model, compiled_loss(model), first_examples(getattr(data, split), count, data.num_classes),
                          epoch)
