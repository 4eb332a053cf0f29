"""The abc study's model configuration: wide-networks' ModelConfig yaml (reference/weightnorm_abc.md §B4),
read strictly into frozen dataclasses.

A file has the sections `name`, `architecture`, `activation`, `loss`, `optimizer`, `initializer`,
`scheduler` and `training`. The five named sections are `{name, params}`; as the original's BaseConfig
allows, the params may also stand beside the name (`activation: {name: elu, alpha: 1.0}`). A section left
out, or left empty, takes its default; `optimizer` with `params.lr` and `architecture` are required (the
abc models need the base learning rate and the sizes; §B3, §B4). Every other key and every type is
checked, and a bad file is one UsageError line naming the file and the key.

The valid names are those of the original's registries (§B3) that an abc network trains with:
- activations: all of them;
- loss: cross_entropy only (kl, mse, logistic and exponential are not in initlab);
- optimizer: sgd, adam and rmsprop (§B3's registry, PyTorch's parameter names and defaults; adam's
  beta1/beta2 as the original's yaml spells them). The m^{−c} scales multiply each variable's rate
  (lib.optimizers.scaled_lr) whatever the optimizer; weight_decay must be 0 (not implemented);
- initializer: "custom" only, the name the original's files give: the abc models draw their own
  Gaussians (§B1). `mean` is μ₀; `var` is recorded but, as in the original, σ² follows the activation
  (relu 2, gelu 4, elu and tanh 1, else 2): the original reads `var` only without an activation (§B1 quirk);
- scheduler: warmup_switch (IP-LLR) and warmup_switch_bias (IP-LLR-bias), with WarmupSwitchLR's defaults.
The original's `normalization` section is refused: no abc network uses it (nor did the original's).
`training` is read by the original's runner, whose fallbacks are the defaults here (n_epochs 15,
n_steps 1500); batch_size, which the runner requires, defaults to the jobs' -bs default (512).

YAML 1.1 reads `1e-3` (no dot) as text; the loader here reads it as the number it looks like.
"""

import dataclasses
import math
import re
from functools import cache
from typing import Any, Callable

from lib.errors import UsageError

REQUIRED = object()  # a key without a default


class _Invalid(Exception):
    """A bad value; `message` completes "key '<key>' ..."."""


@dataclasses.dataclass(frozen=True)
class Architecture:
    """The fully-connected abc network (§B1): n_layers = L + 1 weight matrices, d inputs, width m."""

    n_layers: int
    input_size: int
    width: int
    output_size: int
    bias: bool = False  # the original: biases beyond the input layer only when true (the input layer always has one)
    scale_bias: bool = True  # biases initialized times m^-b, as the weights
    scale_bias_lr: bool = True  # IP-LLR-bias: false makes every bias learning-rate scale 1


@dataclasses.dataclass(frozen=True)
class Named:
    """A `{name, params}` section; `params` holds every parameter of `name`, defaults filled in."""

    name: str
    params: dict


@dataclasses.dataclass(frozen=True)
class Training:
    batch_size: int = 512  # the jobs' -bs default (the original's runner has none)
    n_epochs: int = 15  # the runner's MAX_EPOCHS; training stops at n_epochs or n_steps, whichever comes first
    n_steps: int = 1500  # the runner's MAX_STEPS
    early_stopping: bool = False  # patience 5 on the validation loss when true


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    name: str
    architecture: Architecture
    activation: Named
    loss: Named
    optimizer: Named
    initializer: Named
    scheduler: Named | None
    training: Training


# Value checks: each returns the value (ints written 1.0e+4 become 10000) or raises _Invalid.

def integer(minimum: int) -> Callable[[Any], int]:
    def check(value):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _Invalid(f"must be an integer >= {minimum}")
        return value
    return check


def number(low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False,
           text: str = "a number") -> Callable[[Any], float]:
    def check(value):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value < low or value > high or (low_open and value == low) or (high_open and value == high):
            raise _Invalid(f"must be {text}")
        return float(value)
    return check


def boolean(value):
    if not isinstance(value, bool):
        raise _Invalid("must be true or false")
    return value


def text(value):
    if not isinstance(value, str) or not value:
        raise _Invalid("must be a non-empty string")
    return value


def one_of(*choices: str) -> Callable[[Any], str]:
    def check(value):
        if value not in choices:
            raise _Invalid(f"must be one of {', '.join(choices)}")
        return value
    return check


POSITIVE = number(0, low_open=True, text="a number > 0")
NON_NEGATIVE = number(0, text="a number >= 0")

# name -> {param: (check, default)}; a param whose default is None may be left null.
ACTIVATIONS = {"relu": {}, "elu": {"alpha": (number(), 1.0)}, "gelu": {}, "sigmoid": {}, "tanh": {},
               "leaky_relu": {"negative_slope": (number(), 0.01)}, "identity": {}}
LOSSES = {"cross_entropy": {"reduction": (one_of("mean", "sum"), "mean")}}
OPTIMIZERS = {"sgd": {"lr": (POSITIVE, REQUIRED), "momentum": (number(0, 1, high_open=True, text="a number in [0, 1)"), 0.0),
                      "weight_decay": (NON_NEGATIVE, 0.0), "nesterov": (boolean, False)},
              "adam": {"lr": (POSITIVE, REQUIRED), "beta1": (number(0, 1, high_open=True, text="a number in [0, 1)"), 0.9),
                       "beta2": (number(0, 1, high_open=True, text="a number in [0, 1)"), 0.999), "eps": (POSITIVE, 1e-8),
                       "weight_decay": (NON_NEGATIVE, 0.0)},
              "rmsprop": {"lr": (POSITIVE, REQUIRED), "alpha": (number(0, 1, high_open=True, text="a number in [0, 1)"), 0.99),
                          "eps": (POSITIVE, 1e-8), "momentum": (number(0, 1, high_open=True, text="a number in [0, 1)"), 0.0),
                          "centered": (boolean, False), "weight_decay": (NON_NEGATIVE, 0.0)}}
INITIALIZERS = {"custom": {"mean": (number(), 0.0), "var": (POSITIVE, None)}}


def _warmup_switch(calibrate_base_lr: bool) -> dict:
    """WarmupSwitchLR's params (schedulers.py), lr_decay the 1-num-exp branch's; calibration on by default for
    IP-LLR (fc_ipllr_run.py), off for IP-LLR-bias (fc_ip_bias_run.py)."""
    return {"n_warmup_steps": (integer(1), 1), "calibrate_base_lr": (boolean, calibrate_base_lr),
            "default_calibration": (boolean, False),
            "lr_decay": (number(0, 1, low_open=True, text="a number in (0, 1]"), None)}


SCHEDULERS = {"warmup_switch": _warmup_switch(True), "warmup_switch_bias": _warmup_switch(False)}

# section -> (registry, default name or REQUIRED); a named section left out is None (scheduler) or its default.
NAMED_SECTIONS = {"activation": (ACTIVATIONS, "relu"), "loss": (LOSSES, "cross_entropy"), "optimizer": (OPTIMIZERS, REQUIRED),
                  "initializer": (INITIALIZERS, "custom"), "scheduler": (SCHEDULERS, REQUIRED)}
REQUIRED_SECTIONS = ("architecture", "optimizer")
SECTIONS = ("name", "architecture", "activation", "loss", "optimizer", "initializer", "scheduler", "training")
FIELD_CHECKS = {"n_layers": integer(2), "input_size": integer(1), "width": integer(1), "output_size": integer(1),
                "bias": boolean, "scale_bias": boolean, "scale_bias_lr": boolean,
                "batch_size": integer(1), "n_epochs": integer(1), "n_steps": integer(1), "early_stopping": boolean}


class _Reader:
    """Checks one file's dict; every error is `<source>: key '<key>' ...`."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, key: str, message: str):
        raise UsageError(f"{self.source}: key '{key}' {message}")

    def check(self, key: str, check, value):
        try:
            return check(value)
        except _Invalid as invalid:
            shown = value if isinstance(value, int | float | bool) or value is None else repr(value)
            self.fail(key, f"{invalid}, got {shown}")

    def mapping(self, key: str, value) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping of keys, got {value!r}")
        return value

    def keys(self, key: str, values: dict, valid) -> None:
        unknown = [name for name in values if name not in valid]
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"is unknown (valid: {', '.join(valid) or 'none, it takes no parameters'})")

    def fields(self, key: str, cls, values: dict):
        """A dataclass of FIELD_CHECKS-checked keys; null or absent takes the field's default."""
        values = self.mapping(key, values)
        self.keys(key, values, [f.name for f in dataclasses.fields(cls)])
        checked = {}
        for f in dataclasses.fields(cls):
            if values.get(f.name) is not None:
                checked[f.name] = self.check(f"{key}.{f.name}", FIELD_CHECKS[f.name], values[f.name])
            elif f.default is dataclasses.MISSING:
                self.fail(f"{key}.{f.name}", "is missing")
        return cls(**checked)

    def named(self, key: str, values) -> Named:
        registry, default_name = NAMED_SECTIONS[key]
        values = dict(self.mapping(key, values))
        name = values.pop("name", None)
        if name is None:
            if default_name is REQUIRED:
                self.fail(f"{key}.name", f"is missing (valid: {', '.join(registry)})")
            name = default_name
        if not isinstance(name, str) or name not in registry:
            self.fail(f"{key}.name", f"names no {key} of initlab's abc models, got {name!r} (valid: {', '.join(registry)})")
        if "params" in values:
            if len(values) > 1:
                other = next(extra for extra in values if extra != "params")
                self.fail(f"{key}.{other}", f"stands beside {key}.params: move it into params")
            values = values["params"]
        params = self.mapping(f"{key}.params", values)
        table = registry[name]
        self.keys(f"{key}.params", params, list(table))
        checked = {}
        for param, (check, default) in table.items():
            if params.get(param) is not None:
                checked[param] = self.check(f"{key}.params.{param}", check, params[param])
            elif default is REQUIRED:
                self.fail(f"{key}.params.{param}", f"is missing ({name} needs it)")
            else:
                checked[param] = default
        return Named(name, checked)

    def model(self, data) -> ModelConfig:
        if not isinstance(data, dict):
            raise UsageError(f"{self.source}: expected a mapping of sections ({', '.join(SECTIONS)}), "
                             f"got {'an empty file' if data is None else repr(data)}")
        unknown = [section for section in data if section not in SECTIONS]
        if unknown:
            raise UsageError(f"{self.source}: unknown section '{unknown[0]}' (valid: {', '.join(SECTIONS)})")
        for section in REQUIRED_SECTIONS:
            if data.get(section) is None:
                self.fail(section, "is missing" + (" (with params.lr, the base learning rate)" if section == "optimizer" else ""))
        name = "model" if data.get("name") is None else self.check("name", text, data["name"])  # §B4: "model" by default
        named = {key: self.named(key, data.get(key)) for key in NAMED_SECTIONS if key != "scheduler"}
        scheduler = None if data.get("scheduler") is None else self.named("scheduler", data["scheduler"])
        optimizer = named["optimizer"]
        if optimizer.params.get("nesterov") and optimizer.params["momentum"] == 0:
            self.fail("optimizer.params.nesterov", "needs optimizer.params.momentum > 0 (as torch.optim.SGD)")
        return ModelConfig(name=name, architecture=self.fields("architecture", Architecture, data["architecture"]),
                           scheduler=scheduler, training=self.fields("training", Training, data.get("training")), **named)


def not_applied(model: ModelConfig) -> tuple[str, Any, Any] | None:
    """(key, value, default) of the first key the file sets away from its default that initlab's abc run does
    not apply (docs/studies/abc.md, differences), or None. The schema reads them, so that every file of the
    original loads; a run refuses them rather than silently training something else."""
    values = [("architecture.scale_bias", model.architecture.scale_bias, True),
              ("training.early_stopping", model.training.early_stopping, False)]
    values.append(("optimizer.params.weight_decay", model.optimizer.params["weight_decay"], 0.0))
    if model.scheduler is not None:
        values += [("scheduler.params.lr_decay", model.scheduler.params["lr_decay"], None),
                   ("scheduler.params.default_calibration", model.scheduler.params["default_calibration"], False)]
    return next(((key, value, default) for key, value, default in values if value != default), None)


def named_defaults(section: str, name: str) -> Named:
    """The `section` entry `name` with its default params (a flag that switches the activation drops the
    yaml's params of the old one, which the new one need not take)."""
    registry, _ = NAMED_SECTIONS[section]
    return Named(name, {param: default for param, (_, default) in registry[name].items()})


def model_config_from_dict(data, source: str) -> ModelConfig:
    """The checked ModelConfig of `data` (a file's yaml, or config.json's `model`); errors name `source`."""
    return _Reader(source).model(data)


def to_dict(model: ModelConfig) -> dict:
    """The JSON form (config.json's `model`): every section, every param filled in; from_dict gives `model` back."""
    return dataclasses.asdict(model)


def load_model_config(path: str) -> ModelConfig:
    """Read and check the yaml file `path`."""
    import yaml

    try:
        with open(path, encoding="utf-8") as stream:
            data = yaml.load(stream, Loader=_loader())  # a yaml.SafeLoader
    except OSError as error:
        raise UsageError(f"{path}: cannot read the config file ({error.strerror})") from None
    except yaml.YAMLError as error:
        raise UsageError(f"{path}: not valid YAML ({_yaml_problem(error)})") from None
    return model_config_from_dict(data, path)


def _yaml_problem(error) -> str:
    problem = " ".join(str(getattr(error, "problem", None) or error).split())
    mark = getattr(error, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else problem


# YAML 1.2's floats with an exponent and no dot (1e-3), which YAML 1.1 reads as text.
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")


@cache
def _loader():
    """yaml.SafeLoader that reads 1e-3 as a number and refuses a key written twice (SafeLoader keeps the last)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, str):
                    if key in seen:
                        raise yaml.constructor.ConstructorError(None, None, f"key '{key}' written twice", key_node.start_mark)
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", EXPONENT_FLOAT, list("-+0123456789."))
    return StrictLoader
