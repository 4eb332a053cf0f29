"""The weightnorm study's flags (lib/studies/weightnorm/config.py): train.py's flags with the defaults and
choices of reference/weightnorm_abc.md §A1, the pre-rename init names, one-line errors for contradictory
flags, and the run path."""

import dataclasses
import json
import subprocess
import sys

import pytest

from lib.config import OneLineParser, RunOptions, add_flags, from_namespace, to_json
from lib.errors import UsageError
from lib.studies.weightnorm.config import WeightnormConfig, default_run_name, resolve, run_path
from tests.helpers import REPO

# §A1's table, flag by flag. The two the original leaves None (it cannot train without them) are
# initlab's choices, the README's example: --dataset mnist --nn mlp.
REFERENCE_DEFAULTS = {
    "dataset": "mnist", "nn": "mlp", "hidden_size": 128, "num_layers": 2, "num_blocks": 2, "wrn_n": 6, "wrn_k": 2,
    "wrn_reduced_memory": False, "init": "orthogonal_proposed", "init_extra_param": None, "weight_norm": False,
    "batch_norm": False, "seed": 1, "num_epochs": 200, "optimizer": "sgd", "batch_size": 128, "mini_batch_size": None,
    "lr": 0.01, "lr_annealing_type": 0, "momentum": 0, "weight_decay": 0, "cutout": False, "warmup_epochs": 0.0,
    "warmup_lr": 0, "val_fraction": 0.1, "save_interval": 1, "model": None, "model_prefix": None, "tb": False,
    "cudnn_deterministic": False, "log_every_iter": False, "hessian": False,
}
REFERENCE_CHOICES = {
    "dataset": ("mnist", "cifar10", "cifar100", "mnist1d", "digits"),  # + initlab's offline mnist1d and digits
    "nn": ("mlp", "cnn", "resnet", "wrn"),
    "init": ("he", "orthogonal", "he_datadep", "orthogonal_datadep", "he_proposed", "orthogonal_proposed"),
    "init_extra_param": ("hanin",),
    "optimizer": ("sgd",),
    "lr_annealing_type": ("0", "1", "2", "3", "4", "5"),
}
# §A's rename table: the seed README's init names -> the current ones.
RENAMES = {"traditional": "he", "traditional_datadep": "he_datadep", "proposed": "he_proposed",
           "proposed_orthogonal": "orthogonal_proposed"}
# The flag that makes the default init (orthogonal_proposed) valid.
WN = ["--weight_norm"]


def parser() -> OneLineParser:
    """The study's flags as `experiment.py weightnorm` will offer them (add_flags, as lib.cli does)."""
    flags = OneLineParser(prog="experiment.py weightnorm")
    add_flags(flags, WeightnormConfig)
    return flags


def unresolved(argv) -> WeightnormConfig:
    return from_namespace(WeightnormConfig, parser().parse_args(argv))


def parse(argv) -> WeightnormConfig:
    return resolve(unresolved(argv))


INITLAB_FLAGS = {"debug"}  # every study's smoke-test flag (docs/adding_a_study.md), not one of train.py's


def study_fields() -> set[str]:
    shared = {f.name for f in dataclasses.fields(RunOptions)}
    return {f.name for f in dataclasses.fields(WeightnormConfig)} - shared - INITLAB_FLAGS


def test_every_train_py_flag_is_there_with_the_reference_default():
    assert study_fields() == set(REFERENCE_DEFAULTS)
    config = unresolved([])
    assert {name: getattr(config, name) for name in REFERENCE_DEFAULTS} == REFERENCE_DEFAULTS
    assert isinstance(config.warmup_epochs, float)  # a float flag (fractional warmups)


@pytest.mark.parametrize("flag", sorted(REFERENCE_CHOICES))
def test_choices_are_the_reference_ones_and_others_are_refused(flag):
    for choice in REFERENCE_CHOICES[flag]:
        value = getattr(unresolved([f"--{flag}", choice]), flag)
        assert str(value) == choice
    with pytest.raises(UsageError) as error:
        unresolved([f"--{flag}", "6" if flag == "lr_annealing_type" else "nonsense"])
    assert "\n" not in str(error.value) and REFERENCE_CHOICES[flag][-1] in str(error.value)


def test_readme_command_lines_parse_the_seed_spelling_and_the_current_one_alike():
    seed_readme = parse(["--dataset", "mnist", "--nn", "mlp", "--weight_norm", "--init", "proposed_orthogonal"])
    current_readme = parse(["--dataset", "mnist", "--nn", "mlp", "--weight_norm", "--init", "orthogonal_proposed"])
    assert seed_readme == current_readme and seed_readme.init == "orthogonal_proposed"


@pytest.mark.parametrize("old, new", sorted(RENAMES.items()))
def test_pre_rename_init_names_are_stored_under_their_current_names(old, new):
    assert parse([*WN, "--init", old]).init == new
    help_text = " ".join(parser().format_help().split())  # argparse wraps lines
    assert f"{old} = {new}" in help_text


@pytest.mark.parametrize("argv", [
    ["--val_fraction", "0"], ["--val_fraction", "1"], ["--warmup_epochs", "-0.5"], ["--warmup_lr", "-1"],
    ["--lr", "0"], ["--momentum", "1"], ["--weight_decay", "-1e-4"], ["--num_epochs", "0"],
    ["--mini_batch_size", "0"], ["--lr_annealing_type", "one"], ["--model", "a/b"], ["--model_prefix", ".."],
])
def test_bad_values_are_one_line_errors_naming_the_flag(argv):
    with pytest.raises(UsageError) as error:
        parse(argv)
    assert "\n" not in str(error.value) and argv[0] in str(error.value)


def test_fractional_warmup_and_the_accepted_but_unused_flags_parse():
    config = parse([*WN, "--warmup_epochs", "2.5", "--warmup_lr", "0.001", "--save_interval", "5", "--tb"])
    assert (config.warmup_epochs, config.warmup_lr, config.save_interval, config.tb) == (2.5, 0.001, 5, True)
    assert "unused" in " ".join(parser().format_help().split())  # --save_interval says so


# (contradictory flags, what the one-line error must name, the fixed command line that resolves)
CONTRADICTIONS = [
    ([], "--weight_norm", WN),  # the default init is the proposed one: the original asserts WN
    (["--init", "he_proposed"], "--weight_norm", ["--init", "he_proposed", *WN]),
    (["--init", "orthogonal_datadep"], "--weight_norm", ["--init", "orthogonal_datadep", *WN]),
    (["--init", "proposed"], "--weight_norm", ["--init", "proposed", *WN]),
    ([*WN, "--batch_norm"], "--nn resnet or wrn", [*WN, "--batch_norm", "--nn", "resnet"]),
    ([*WN, "--nn", "cnn", "--batch_norm"], "--nn resnet or wrn", [*WN, "--nn", "wrn", "--batch_norm"]),
    ([*WN, "--cutout"], "--dataset cifar10", [*WN, "--cutout", "--dataset", "cifar100"]),
    ([*WN, "--cutout", "--dataset", "digits"], "--dataset cifar10", [*WN, "--cutout", "--dataset", "cifar10"]),
    ([*WN, "--init_extra_param", "hanin"], "--nn resnet or wrn", [*WN, "--init_extra_param", "hanin", "--nn", "wrn"]),
    ([*WN, "--nn", "wrn", "--init", "orthogonal_datadep", "--init_extra_param", "hanin"], "--init he_proposed",
     [*WN, "--nn", "wrn", "--init", "he_proposed", "--init_extra_param", "hanin"]),
    (["--nn", "resnet", "--init", "orthogonal", "--init_extra_param", "hanin"], "orthogonal_proposed",
     [*WN, "--nn", "resnet", "--init", "orthogonal_proposed", "--init_extra_param", "hanin"]),
    ([*WN, "--mini_batch_size", "48"], "divisor", [*WN, "--mini_batch_size", "32"]),
    ([*WN, "--mini_batch_size", "256"], "divisor", [*WN, "--mini_batch_size", "128"]),
    ([*WN, "--dataset", "mnist1d", "--nn", "cnn"], "--nn mlp", [*WN, "--dataset", "mnist1d"]),
]


@pytest.mark.parametrize("argv, fix, fixed", CONTRADICTIONS)
def test_contradictory_flags_are_one_line_errors_that_name_the_fix(argv, fix, fixed):
    with pytest.raises(UsageError) as error:
        parse(argv)
    message = str(error.value)
    assert "\n" not in message and fix in message, message
    parse(fixed)  # and the fix it names resolves


def test_plain_networks_train_without_weight_norm():
    assert not parse(["--init", "he"]).weight_norm
    assert parse(["--init", "orthogonal", "--nn", "wrn", "--batch_norm"]).batch_norm


def test_resolve_fills_the_mini_batch_and_is_idempotent_also_through_config_json():
    assert parse(WN).mini_batch_size == 128
    config = parse([*WN, "--nn", "wrn", "--batch_size", "256", "--mini_batch_size", "64", "--lr_annealing_type", "3",
                    "--warmup_epochs", "0.5", "--backend", "jax"])
    assert (config.batch_size, config.mini_batch_size, config.backend) == (256, 64, "jax")
    assert resolve(config) == config
    saved = json.loads(to_json(config))
    assert saved.pop("study") == "weightnorm"
    assert resolve(WeightnormConfig(**saved)) == config


def test_run_path_is_dataset_prefix_and_a_readable_name_without_a_timestamp():
    assert default_run_name(parse(WN)) == "mlp-2x128-orthogonal_proposed-wn-seed1"
    assert default_run_name(parse(["--init", "he", "--nn", "cnn", "--num_layers", "5", "--seed", "3"])) == "cnn-5x128-he-seed3"
    assert default_run_name(parse(["--init", "he", "--nn", "resnet", "--num_blocks", "9", "--hidden_size", "16",
                                   "--batch_norm"])) == "resnet-9b-16-he-bn-seed1"
    wrn = parse([*WN, "--nn", "wrn", "--wrn_n", "6", "--wrn_k", "10", "--init_extra_param", "hanin", "--dataset",
                 "cifar10"])
    assert default_run_name(wrn) == "wrn-40-10-orthogonal_proposed-hanin-wn-seed1"
    assert run_path(wrn) == "model_history/cifar10/wrn-40-10-orthogonal_proposed-hanin-wn-seed1"
    assert run_path(parse([*WN, "--model_prefix", "depth", "--output_dir", "out"])) == \
        "out/mnist/depth/mlp-2x128-orthogonal_proposed-wn-seed1"
    assert run_path(parse([*WN, "--model", "mine", "--model_prefix", "depth"])) == "model_history/mnist/depth/mine"
    assert default_run_name(parse(WN)) != default_run_name(parse([*WN, "--seed", "2"]))


def test_the_config_module_does_not_start_keras():
    code = "import sys, lib.studies.weightnorm.config; print(sorted({'keras', 'tensorflow', 'jax'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
