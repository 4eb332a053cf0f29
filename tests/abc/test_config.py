"""The abc study's flags (lib/studies/abc/config.py): the jobs' click flags with their short spellings
(reference/weightnorm_abc.md §B5), overriding the ModelConfig file; the effective model recorded and
resolved again from config.json; the runner's trial seeds; bad input as one line before anything is written."""

import dataclasses
import json
import os
import re

import pytest

from lib.config import OneLineParser, add_flags, from_namespace, to_json
from lib.errors import UsageError
from lib.studies.abc.config import (
    INPUT_SIZES,
    PARAMETERIZATIONS,
    AbcConfig,
    config_path,
    default_run_name,
    model_config,
    resolve,
    run_path,
    shipped_configs,
    trial_seeds,
)
from lib.studies.abc.model_config import load_model_config

# §B5's click options: (long, short, a value, the field's value).
CLICK_FLAGS = [("--activation", "-act", "gelu", "gelu"), ("--n_steps", "-N", "300", 300), ("--base_lr", "-lr", "0.5", 0.5),
               ("--batch_size", "-bs", "512", 512), ("--dataset", "-ds", "cifar10", "cifar10"),
               ("--download", "-dld", "True", True)]
# A file away from every flag's value below, so that an override shows.
FILE = """
name: test
architecture: {n_layers: 4, input_size: 784, width: 64, output_size: 10}
activation: {name: elu, params: {alpha: 0.5}}
optimizer: {name: sgd, params: {lr: 0.01, momentum: 0.5}}
scheduler: {name: warmup_switch, params: {n_warmup_steps: 3, calibrate_base_lr: false}}
training: {batch_size: 128, n_epochs: 10, n_steps: 1000}
"""


def parser() -> OneLineParser:
    flags = OneLineParser(prog="experiment.py abc")
    add_flags(flags, AbcConfig)
    return flags


def unresolved(argv) -> AbcConfig:
    return from_namespace(AbcConfig, parser().parse_args(argv))


def parse(argv) -> AbcConfig:
    return resolve(unresolved(argv))


@pytest.fixture
def yaml_file(tmp_path):
    def write(text: str = FILE, name: str = "model.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


@pytest.mark.parametrize("long, short, value, expected", CLICK_FLAGS)
def test_the_click_flags_and_their_short_spellings(long, short, value, expected):
    assert getattr(unresolved([long, value]), long[2:]) == expected
    assert getattr(unresolved([short, value]), long[2:]) == expected


def test_download_takes_clicks_boolean_spellings():
    assert [unresolved(["-dld", text]).download for text in ("True", "yes", "1", "false", "N", "off")] == \
        [True, True, True, False, False, False]
    with pytest.raises(UsageError, match="must be true or false"):
        unresolved(["-dld", "maybe"])


def test_defaults_leave_the_file_in_charge():
    config = unresolved([])
    assert config.config == "fc_ipllr_mnist" and config.n_trials == 5 and config.seed == 42  # the jobs' N_TRIALS, the runner's SEED
    for field in ("parameterization", "activation", "n_steps", "n_epochs", "base_lr", "batch_size", "dataset", "width",
                  "n_layers"):
        assert getattr(config, field) is None, field


def test_without_flags_the_file_decides_and_the_flags_are_filled_from_it(yaml_file):
    config = parse(["--config", yaml_file()])
    assert (config.activation, config.n_steps, config.base_lr, config.batch_size, config.width, config.n_layers) == \
        ("elu", 1000, 0.01, 128, 64, 4)
    assert config.dataset == "mnist" and config.parameterization == "ipllr"  # input size 784; warmup_switch
    assert config.n_epochs == 10 and model_config(config) == load_model_config(yaml_file())


def test_n_epochs_overrides_the_files_bound(yaml_file):
    config = parse(["--config", yaml_file(), "--n_epochs", "100"])
    assert config.n_epochs == 100 and model_config(config).training.n_epochs == 100
    assert model_config(config).training.n_steps == 1000


def test_flags_override_the_file(yaml_file):
    config = parse(["--config", yaml_file(), "-act", "tanh", "-N", "300", "-lr", "0.5", "-bs", "512", "--width", "32",
                    "--n_layers", "7", "-ds", "digits"])
    model = model_config(config)
    assert model.activation.name == "tanh" and model.activation.params == {}  # elu's alpha is not tanh's
    assert model.training.n_steps == 300 and model.training.batch_size == 512 and model.training.n_epochs == 10
    assert model.optimizer.params == {"lr": 0.5, "momentum": 0.5, "weight_decay": 0.0, "nesterov": False}
    assert (model.architecture.width, model.architecture.n_layers, model.architecture.input_size) == (32, 7, 64)
    assert model.scheduler.params["n_warmup_steps"] == 3  # IP-LLR keeps the file's warmup_switch params


def test_the_same_activation_keeps_its_params(yaml_file):
    assert model_config(parse(["--config", yaml_file(), "-act", "elu"])).activation.params == {"alpha": 0.5}


def test_the_parameterization_defaults_to_the_files_job(yaml_file):
    assert parse(["--config", yaml_file()]).parameterization == "ipllr"
    assert parse(["--config", yaml_file(FILE.replace("warmup_switch", "warmup_switch_bias"))]).parameterization == "ipllr_bias"
    no_scheduler = FILE.split("scheduler")[0] + "training: {batch_size: 128}\n"
    assert parse(["--config", yaml_file(no_scheduler)]).parameterization == "naive_ip"
    assert [parse(["--config", name]).parameterization for name in ("fc_ipllr_mnist", "standard_fc_ip_cifar10")] == \
        ["ipllr", "naive_ip"]


def test_the_parameterization_sets_the_scheduler_as_its_job(yaml_file):
    def scheduler(parameterization):
        return model_config(parse(["--config", yaml_file(), "--parameterization", parameterization])).scheduler

    for name in ("ntk", "mup", "ip", "naive_ip", "ip_non_centered", "sp"):
        assert scheduler(name) is None, name
    bias = scheduler("ipllr_bias")  # fc_ip_bias_run.py: warmup_switch_bias, no calibration
    assert bias.name == "warmup_switch_bias" and bias.params["calibrate_base_lr"] is False
    assert bias.params["n_warmup_steps"] == 1
    assert scheduler("ipllr").params["n_warmup_steps"] == 3
    without = FILE.split("scheduler")[0] + "training: {batch_size: 128}\n"
    ipllr = model_config(parse(["--config", yaml_file(without), "--parameterization", "ipllr"])).scheduler
    assert ipllr.name == "warmup_switch" and ipllr.params["calibrate_base_lr"] is True  # fc_ipllr_run.py's


def test_the_non_centered_ip_draws_with_mean_one_unless_the_file_says(yaml_file):
    def mean(text):
        return model_config(parse(["--config", yaml_file(text), "--parameterization", "ip_non_centered"])).initializer.params["mean"]

    assert mean(FILE) == 1.0  # fc_ip_non_centered_run.py's INIT_MEAN
    assert mean(FILE + "initializer: {name: custom, params: {mean: 0.5}}\n") == 0.5
    assert model_config(parse(["--config", yaml_file()])).initializer.params["mean"] == 0.0


def test_every_parameterization_is_a_choice():
    assert {unresolved(["--parameterization", name]).parameterization for name in PARAMETERIZATIONS} == set(PARAMETERIZATIONS)
    assert {"ntk", "mup", "ip", "naive_ip", "ipllr", "ipllr_bias", "ip_non_centered", "sp"} == set(PARAMETERIZATIONS)


@pytest.mark.parametrize("dataset", sorted(INPUT_SIZES))
def test_the_dataset_sets_the_input_size_and_is_found_from_it(yaml_file, dataset):
    model = model_config(parse(["--config", yaml_file(), "-ds", dataset]))
    assert model.architecture.input_size == INPUT_SIZES[dataset] and model.architecture.output_size == 10
    text = FILE.replace("input_size: 784", f"input_size: {INPUT_SIZES[dataset]}")
    assert parse(["--config", yaml_file(text)]).dataset == dataset


def test_cifar10_is_grayscale_unless_rgb(yaml_file):
    assert model_config(parse(["--config", yaml_file(), "-ds", "cifar10"])).architecture.input_size == 1024
    config = parse(["--config", yaml_file(), "-ds", "cifar10", "--rgb"])
    assert model_config(config).architecture.input_size == 3072 and default_run_name(config) != \
        default_run_name(parse(["--config", yaml_file(), "-ds", "cifar10"]))
    with pytest.raises(UsageError, match="--rgb applies to cifar10"):
        parse(["--config", yaml_file(), "--rgb"])


def test_an_input_size_of_no_dataset_needs_dataset():
    with pytest.raises(UsageError) as error:
        parse(["--config", "fc_abc"])
    assert str(error.value).startswith(config_path("fc_abc")) and "'architecture.input_size'" in str(error.value)
    assert parse(["--config", "fc_abc", "-ds", "mnist1d"]).dataset == "mnist1d"


def test_resolving_is_idempotent_and_config_json_needs_no_yaml_file(tmp_path, yaml_file):
    path = yaml_file()
    config = parse(["--config", path, "-act", "gelu", "--parameterization", "ipllr_bias", "-ds", "cifar10", "--rgb"])
    assert resolve(config) == config
    os.remove(path)  # a resumed run reads its model from config.json, not from the file
    saved = {key: value for key, value in json.loads(to_json(config)).items() if key != "study"}
    assert resolve(AbcConfig(**saved)) == config


def test_every_shipped_config_resolves(tmp_path):
    for name in shipped_configs():
        config = parse(["--config", name, "-ds", "digits"])
        assert resolve(config) == config and run_path(config).startswith(os.path.join("model_history", "digits", ""))


def test_config_names_a_path_or_a_shipped_file(tmp_path, yaml_file, monkeypatch):
    assert config_path("fc_ipllr_mnist") == config_path("fc_ipllr_mnist.yaml")
    assert os.path.isfile(config_path("fc_ipllr_mnist"))
    monkeypatch.chdir(tmp_path)
    yaml_file(name="fc_ipllr_mnist")  # a file of that name here is taken as given
    assert config_path("fc_ipllr_mnist") == "fc_ipllr_mnist"
    assert parse(["--config", "fc_ipllr_mnist"]).width == 64
    with pytest.raises(UsageError) as error:
        parse(["--config", "fc_ipllr_svhn"])
    assert "fc_ipllr_svhn" in str(error.value) and all(name in str(error.value) for name in shipped_configs())


def test_the_trial_seeds_are_the_runners():
    """ABCRunner: np.random.seed(42), then np.random.randint(0, 100, n_trials)."""
    import numpy as np

    np.random.seed(42)
    assert trial_seeds(unresolved([])) == list(np.random.randint(0, 100, size=5))
    assert trial_seeds(unresolved(["--n_trials", "3"])) == trial_seeds(unresolved([]))[:3]
    assert trial_seeds(unresolved(["--seed", "1"])) != trial_seeds(unresolved([]))


def test_run_path_names_what_tells_runs_apart(yaml_file):
    config = parse(["--config", yaml_file(), "-act", "gelu", "--n_layers", "7", "--output_dir", "out"])
    assert run_path(config) == os.path.join("out", "mnist", "ipllr-L6-m64-gelu-lr0.01-bs128-warmup3-seed42")
    assert run_path(dataclasses.replace(config, name="mine")) == os.path.join("out", "mnist", "mine")
    others = [["-act", "tanh"], ["--parameterization", "mup"], ["-lr", "0.1"], ["-bs", "64"], ["--width", "32"],
              ["--n_layers", "5"], ["--seed", "1"]]
    names = {default_run_name(parse(["--config", yaml_file(), "--n_layers", "7", "-act", "gelu", *flags])) for flags in others}
    assert len(names) == len(others) and default_run_name(config) not in names


# Bad flag values: one line naming what is valid.
BAD_FLAGS = {
    "-act swish": "relu", "--parameterization abc": "ipllr_bias", "-ds svhn": "mnist1d", "-N 0": "integer >= 1",
    "-lr -1": "number > 0", "-bs 1.5": "integer >= 1", "--n_layers 1": "integer >= 2", "--n_trials 0": "integer >= 1",
}


@pytest.mark.parametrize("flags", sorted(BAD_FLAGS))
def test_bad_flag_values_are_one_line_naming_the_valid_ones(flags):
    with pytest.raises(UsageError) as error:
        unresolved(flags.split())
    assert "\n" not in str(error.value) and BAD_FLAGS[flags] in str(error.value)


def test_contradictory_flags_are_refused(yaml_file):
    with pytest.raises(UsageError, match="--debug"):
        parse(["--debug", "--resume"])
    text = FILE.replace("output_size: 10", "output_size: 10, scale_bias_lr: false")
    with pytest.raises(UsageError, match="'architecture.scale_bias_lr'"):
        parse(["--config", yaml_file(text)])
    assert parse(["--config", yaml_file(text), "--parameterization", "ipllr_bias"]).parameterization == "ipllr_bias"


@pytest.mark.parametrize("text, key", [("architecture: [1\n", "not valid YAML"), (FILE + "widths: 3\n", "'widths'"),
                                       (FILE.replace("width: 64", "width: '64'"), "'architecture.width'"),
                                       (FILE.replace("lr: 0.01, ", ""), "'optimizer.params.lr'"),
                                       (FILE.replace("name: elu", "name: swish"), "'activation.name'")])
def test_the_command_line_refuses_a_bad_file_in_one_line_and_writes_nothing(tmp_path, yaml_file, capsys, text, key):
    from lib.cli import main

    path, out = yaml_file(text), tmp_path / "out"
    assert main(["abc", "--config", path, "--output_dir", str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and path in error and key in error, error
    assert not out.exists()
    assert main(["abc", "--config", yaml_file(), "--parameterization", "nonsense", "--output_dir", str(out)]) == 2
    assert "ipllr" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("old, new, key", [
    ("output_size: 10}", "output_size: 10, scale_bias: false}", "architecture.scale_bias"),
    ("n_steps: 1000}", "n_steps: 1000, early_stopping: true}", "training.early_stopping"),
    ("momentum: 0.5}", "momentum: 0.5, weight_decay: 0.0001}", "optimizer.params.weight_decay"),
    ("calibrate_base_lr: false}", "calibrate_base_lr: false, lr_decay: 0.5}", "scheduler.params.lr_decay"),
    ("calibrate_base_lr: false}", "calibrate_base_lr: false, default_calibration: true}",
     "scheduler.params.default_calibration"),
])
def test_keys_initlab_does_not_apply_are_refused_before_anything_is_written(yaml_file, tmp_path, old, new, key):
    path = yaml_file(FILE.replace(old, new))
    load_model_config(path)  # the schema reads every key of the original's files...
    with pytest.raises(UsageError, match=rf"^{re.escape(path)}: key '{re.escape(key)}' is .*, which initlab's abc runs "
                                         "do not apply"):
        parse(["--config", path, "--output_dir", str(tmp_path / "out")])  # ...a run refuses to ignore one
    assert not (tmp_path / "out").exists()
