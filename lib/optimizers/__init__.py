"""Optimizers that more than one study trains with (pytorch_sgd: torch.optim.SGD's momentum form)."""
