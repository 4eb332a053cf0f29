"""The ModelConfig yaml schema (lib/studies/abc/model_config.py, reference/weightnorm_abc.md §B4): every key
read and written back, the original's section forms and defaults, and every kind of bad file reported in
one line that names the file and the key."""

import dataclasses
import json

import pytest

from lib.errors import UsageError
from lib.studies.abc import model_config as schema
from lib.studies.abc.config import config_path, shipped_configs
from lib.studies.abc.model_config import load_model_config, model_config_from_dict, named_defaults, to_dict
from lib.studies.abc.parameterizations import ACTIVATIONS

# Every key of the schema, each away from its default, so that a key dropped or defaulted shows.
FULL = {
    "name": "full",
    "architecture": {"n_layers": 3, "input_size": 64, "width": 32, "output_size": 10, "bias": True, "scale_bias": False,
                     "scale_bias_lr": False},
    "activation": {"name": "elu", "params": {"alpha": 0.5}},
    "loss": {"name": "cross_entropy", "params": {"reduction": "sum"}},
    "optimizer": {"name": "sgd", "params": {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.0001, "nesterov": True}},
    "initializer": {"name": "custom", "params": {"mean": 0.25, "var": 1.5}},
    "scheduler": {"name": "warmup_switch_bias", "params": {"n_warmup_steps": 2, "calibrate_base_lr": True,
                                                           "default_calibration": True, "lr_decay": 0.5}},
    "training": {"batch_size": 64, "n_epochs": 3, "n_steps": 100, "early_stopping": True},
}
FULL_YAML = """
name: full
architecture: {n_layers: 3, input_size: 64, width: 32, output_size: 10, bias: true, scale_bias: false, scale_bias_lr: false}
activation: {name: elu, params: {alpha: 0.5}}
loss: {name: cross_entropy, params: {reduction: sum}}
optimizer: {name: sgd, params: {lr: 0.05, momentum: 0.9, weight_decay: 1e-4, nesterov: true}}
initializer: {name: custom, params: {mean: 0.25, var: 1.5}}
scheduler: {name: warmup_switch_bias, params: {n_warmup_steps: 2, calibrate_base_lr: true, default_calibration: true,
            lr_decay: 0.5}}
training: {batch_size: 64, n_epochs: 3, n_steps: 100, early_stopping: true}
"""
# The smallest valid file: the two required sections and the required lr.
MINIMAL_YAML = """
architecture: {n_layers: 3, input_size: 64, width: 32, output_size: 10}
optimizer: {name: sgd, params: {lr: 0.1}}
"""


def write(tmp_path, text: str, name: str = "model.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_full_covers_every_key_of_the_schema():
    """FULL must name every key, or the round trip below would not test it."""
    assert set(FULL) == set(schema.SECTIONS)
    assert set(FULL["architecture"]) == {f.name for f in dataclasses.fields(schema.Architecture)}
    assert set(FULL["training"]) == {f.name for f in dataclasses.fields(schema.Training)}
    for section, (registry, _) in schema.NAMED_SECTIONS.items():
        assert set(FULL[section]["params"]) == set(registry[FULL[section]["name"]]), section


def test_every_key_is_read_and_written_back(tmp_path):
    model = load_model_config(write(tmp_path, FULL_YAML))
    assert to_dict(model) == FULL
    assert model_config_from_dict(json.loads(json.dumps(to_dict(model))), "config.json") == model


@pytest.mark.parametrize("section", sorted(schema.NAMED_SECTIONS))
def test_every_entry_of_every_registry_round_trips_with_its_defaults(section):
    registry, _ = schema.NAMED_SECTIONS[section]
    base = model_config_from_dict(json.loads(json.dumps(FULL)), "full")
    for name in registry:
        entry = named_defaults(section, name)
        if section == "optimizer":
            entry = schema.Named(name, {**entry.params, "lr": 0.1})
        model = dataclasses.replace(base, **{section: entry})
        assert model_config_from_dict(json.loads(json.dumps(to_dict(model))), "json") == model


def test_the_activations_are_those_the_models_build():
    assert set(schema.ACTIVATIONS) == set(ACTIVATIONS)


def test_left_out_sections_and_keys_take_the_originals_defaults(tmp_path):
    model = load_model_config(write(tmp_path, MINIMAL_YAML))
    assert model.name == "model"  # §B4
    assert model.architecture.bias is False and model.architecture.scale_bias and model.architecture.scale_bias_lr
    assert (model.activation.name, model.loss.name, model.initializer.name) == ("relu", "cross_entropy", "custom")
    assert model.loss.params == {"reduction": "mean"}
    assert model.optimizer.params == {"lr": 0.1, "momentum": 0.0, "weight_decay": 0.0, "nesterov": False}
    assert model.initializer.params == {"mean": 0.0, "var": None}
    assert model.scheduler is None
    assert model.training == schema.Training(batch_size=512, n_epochs=15, n_steps=1500, early_stopping=False)


def test_empty_sections_and_null_keys_are_left_out(tmp_path):
    text = MINIMAL_YAML + "name:\nactivation:\ninitializer: {name: custom, params: {var: null}}\ntraining:\n"
    assert load_model_config(write(tmp_path, text)) == load_model_config(write(tmp_path, MINIMAL_YAML, "b.yaml"))


def test_warmup_switch_defaults_are_the_schedulers_and_the_bias_job_calibrates_nothing(tmp_path):
    for name, calibrate in (("warmup_switch", True), ("warmup_switch_bias", False)):
        model = load_model_config(write(tmp_path, MINIMAL_YAML + f"scheduler: {{name: {name}}}\n"))
        assert model.scheduler.params == {"n_warmup_steps": 1, "calibrate_base_lr": calibrate,
                                          "default_calibration": False, "lr_decay": None}


def test_params_beside_the_name_are_the_params(tmp_path):
    """The original's BaseConfig: keys other than name are the params when no `params` mapping is given."""
    beside = load_model_config(write(tmp_path, MINIMAL_YAML + "activation: {name: leaky_relu, negative_slope: 0.2}\n"))
    nested = load_model_config(write(tmp_path, MINIMAL_YAML + "activation: {name: leaky_relu, params: {negative_slope: 0.2}}\n",
                                     "nested.yaml"))
    assert beside == nested and beside.activation.params == {"negative_slope": 0.2}


def test_numbers_as_the_originals_files_write_them(tmp_path):
    text = MINIMAL_YAML.replace("lr: 0.1", "lr: 1e-3") + "training: {n_steps: 1.0e+4, n_epochs: 2.0}\n"
    model = load_model_config(write(tmp_path, text))
    assert model.optimizer.params["lr"] == 0.001  # YAML 1.1 would read 1e-3 as text
    assert model.training.n_steps == 10000 and isinstance(model.training.n_steps, int)
    assert model.training.n_epochs == 2 and isinstance(model.training.n_epochs, int)


@pytest.mark.parametrize("name", ["fc_ipllr_mnist", "fc_ipllr_cifar10", "standard_fc_ip_mnist", "standard_fc_ip_cifar10",
                                  "fc_abc"])
def test_the_shipped_configs_load_and_round_trip(name):
    assert name in shipped_configs()
    model = load_model_config(config_path(name))
    assert model_config_from_dict(json.loads(json.dumps(to_dict(model))), "json") == model
    text = open(config_path(name)).read()
    assert text.startswith("#") and "python experiment.py abc --config " + name in text  # the command that runs it


def test_the_shipped_configs_hold_the_originals_values():
    """§B4's example files: what differs between them."""
    ipllr_mnist, ipllr_cifar, ip_mnist, ip_cifar, abc = (load_model_config(config_path(name)) for name in (
        "fc_ipllr_mnist", "fc_ipllr_cifar10", "standard_fc_ip_mnist", "standard_fc_ip_cifar10", "fc_abc"))
    assert ipllr_mnist.architecture == schema.Architecture(n_layers=4, input_size=784, width=1024, output_size=10)
    assert ipllr_mnist.optimizer.params["lr"] == 0.01 and ipllr_mnist.scheduler.name == "warmup_switch"
    assert ipllr_mnist.scheduler.params["n_warmup_steps"] == 1
    assert ipllr_mnist.training == schema.Training(batch_size=128, n_epochs=10, n_steps=10000)
    assert ipllr_cifar.architecture.input_size == 1024 and ipllr_cifar.training.n_epochs == 50  # the branch's
    for ip, ipllr in ((ip_mnist, ipllr_mnist), (ip_cifar, ipllr_cifar)):
        assert ip.scheduler is None and ip.optimizer.params["lr"] == 0.001
        assert ip.architecture == ipllr.architecture and ip.activation == ipllr.activation
    assert abc.architecture == schema.Architecture(n_layers=6, input_size=28, width=128, output_size=10, bias=True)
    assert abc.optimizer.params["lr"] == 0.001 and abc.scheduler is None and abc.name == "model"


# (file text, what the one line must name): each kind of bad file.
BAD_FILES = {
    "invalid yaml": ("architecture: [1, 2\n", "not valid YAML"),
    "a key written twice": (MINIMAL_YAML + "optimizer: {name: sgd, params: {lr: 0.2}}\n", "'optimizer' written twice"),
    "empty": ("", "an empty file"),
    "not a mapping": ("- architecture\n- optimizer\n", "expected a mapping of sections"),
    "unknown section": (MINIMAL_YAML + "dataset: mnist\n", "unknown section 'dataset'"),
    "the original's normalization": (MINIMAL_YAML + "normalization: {name: batch_norm_1d}\n", "unknown section 'normalization'"),
    "unknown architecture key": (MINIMAL_YAML.replace("width:", "widht:"), "key 'architecture.widht' is unknown"),
    "unknown param": (MINIMAL_YAML.replace("lr: 0.1", "lr: 0.1, momentun: 0.9"), "key 'optimizer.params.momentun' is unknown"),
    "param of another activation": (MINIMAL_YAML + "activation: {name: relu, params: {alpha: 1.0}}\n",
                                    "key 'activation.params.alpha' is unknown"),
    "params beside params": (MINIMAL_YAML + "activation: {name: elu, alpha: 1.0, params: {}}\n", "key 'activation.alpha'"),
    "string width": (MINIMAL_YAML.replace("width: 32", "width: wide"), "key 'architecture.width' must be an integer"),
    "fractional width": (MINIMAL_YAML.replace("width: 32", "width: 32.5"), "key 'architecture.width' must be an integer"),
    "boolean width": (MINIMAL_YAML.replace("width: 32", "width: true"), "key 'architecture.width' must be an integer"),
    "one layer": (MINIMAL_YAML.replace("n_layers: 3", "n_layers: 1"), "key 'architecture.n_layers' must be an integer >= 2"),
    "numeric bias": (MINIMAL_YAML.replace("output_size: 10", "output_size: 10, bias: 1"), "key 'architecture.bias' must be true or false"),
    "string lr": (MINIMAL_YAML.replace("lr: 0.1", "lr: fast"), "key 'optimizer.params.lr' must be a number > 0"),
    "negative lr": (MINIMAL_YAML.replace("lr: 0.1", "lr: -0.1"), "key 'optimizer.params.lr' must be a number > 0"),
    "negative steps": (MINIMAL_YAML + "training: {n_steps: -3}\n", "key 'training.n_steps' must be an integer >= 1"),
    "section not a mapping": (MINIMAL_YAML + "training: 100\n", "key 'training' must be a mapping"),
    "name not a string": (MINIMAL_YAML + "name: [a, b]\n", "key 'name' must be a non-empty string"),
    "missing lr": (MINIMAL_YAML.replace("params: {lr: 0.1}", "params: {momentum: 0.9}"), "key 'optimizer.params.lr' is missing"),
    "missing lr, no params": (MINIMAL_YAML.replace(", params: {lr: 0.1}", ""), "key 'optimizer.params.lr' is missing"),
    "missing optimizer": (MINIMAL_YAML.split("optimizer")[0], "key 'optimizer' is missing"),
    "missing architecture": ("optimizer: {name: sgd, params: {lr: 0.1}}\n", "key 'architecture' is missing"),
    "missing width": (MINIMAL_YAML.replace("width: 32, ", ""), "key 'architecture.width' is missing"),
    "missing optimizer name": (MINIMAL_YAML.replace("name: sgd, ", ""), "key 'optimizer.name' is missing"),
    "unknown activation": (MINIMAL_YAML + "activation: {name: swish}\n", "key 'activation.name'"),
    "unknown loss": (MINIMAL_YAML + "loss: {name: kl}\n", "key 'loss.name'"),
    "unknown optimizer": (MINIMAL_YAML.replace("name: sgd", "name: lbfgs"), "key 'optimizer.name'"),
    "unknown initializer": (MINIMAL_YAML + "initializer: {name: glorot_uniform}\n", "key 'initializer.name'"),
    "unknown scheduler": (MINIMAL_YAML + "scheduler: {name: step_lr}\n", "key 'scheduler.name'"),
    "unknown reduction": (MINIMAL_YAML + "loss: {name: cross_entropy, params: {reduction: none}}\n",
                          "key 'loss.params.reduction' must be one of mean, sum"),
    "lr decay above 1": (MINIMAL_YAML + "scheduler: {name: warmup_switch, params: {lr_decay: 2}}\n",
                         "key 'scheduler.params.lr_decay' must be a number in (0, 1]"),
    "nesterov without momentum": (MINIMAL_YAML.replace("lr: 0.1", "lr: 0.1, nesterov: true"), "key 'optimizer.params.nesterov'"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_a_bad_file_is_one_line_naming_the_file_and_the_key(tmp_path, kind):
    text, expected = BAD_FILES[kind]
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as error:
        load_model_config(path)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{path}: ") and expected in message, message


def test_unknown_names_list_the_valid_ones(tmp_path):
    with pytest.raises(UsageError) as error:
        load_model_config(write(tmp_path, MINIMAL_YAML + "activation: {name: swish}\n"))
    assert all(name in str(error.value) for name in schema.ACTIVATIONS)


def test_invalid_yaml_says_where(tmp_path):
    with pytest.raises(UsageError) as error:
        load_model_config(write(tmp_path, "architecture:\n  width: 3\n   n_layers: 2\n"))
    assert "line 3" in str(error.value)


def test_a_missing_file_is_one_line(tmp_path):
    path = str(tmp_path / "absent.yaml")
    with pytest.raises(UsageError) as error:
        load_model_config(path)
    assert str(error.value).startswith(f"{path}: cannot read") and "\n" not in str(error.value)


def test_config_json_errors_name_their_source():
    data = json.loads(json.dumps(FULL))
    data["optimizer"]["params"]["lr"] = None
    with pytest.raises(UsageError, match=r"^config.json's model: key 'optimizer.params.lr' is missing"):
        model_config_from_dict(data, "config.json's model")
