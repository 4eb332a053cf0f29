"""The command line: xavier_init's commands parse as written; every bad input is one line, exit != 0, nothing written."""

import json
import os

import pytest

from lib.cli import commands, main, study_parser
from lib.config import from_namespace
from lib.studies import STUDIES
from lib.studies.glorot.config import GlorotConfig, default_run_name, resolve
from tests.helpers import run_script

GLOROT = STUDIES.entry("glorot").build


def parse(argv):
    return from_namespace(GlorotConfig, study_parser(GLOROT).parse_args(argv))


# Every flag of the xavier_init README, as written there, its example command line, and the resolved
# config fields each one must set (values that differ from the defaults, so a flag that is ignored fails).
XAVIER_INIT_COMMANDS = [
    (["--activation", "sigmoid"], {"activation": "sigmoid"}),
    (["--activation", "tanh"], {"activation": "tanh"}),
    (["--activation", "softsign"], {"activation": "softsign"}),
    (["--xavier"], {"xavier": True, "init": "normalized"}),
    (["--five_layer"], {"five_layer": True, "hidden_layers": 4}),
    (["--is_five_layers"], {"five_layer": True, "hidden_layers": 4}),
    (["--dataset", "mnist"], {"dataset": "mnist"}),
    (["--dataset", "cifar10"], {"dataset": "cifar10"}),
    (["--dataset", "shapeset"], {"dataset": "shapeset"}),
    (["--lr", "1e-2"], {"lr": 1e-2}),
    (["--batch_size", "32"], {"batch_size": 32}),
    (["--num_gpus", "0"], {"num_gpus": 0}),
    (["--num_gpus", "1"], {"num_gpus": 1}),
    (["--num_gpus", "2"], {"num_gpus": 2}),
    (["--debug"], {"debug": True}),
    (["--xavier", "--activation", "tanh", "--five_layer", "--dataset", "cifar10", "--num_gpus", "1"],
     {"xavier": True, "init": "normalized", "activation": "tanh", "five_layer": True, "hidden_layers": 4, "dataset": "cifar10",
      "num_gpus": 1}),
]


@pytest.mark.parametrize("argv, expected", XAVIER_INIT_COMMANDS, ids=[" ".join(argv) for argv, _ in XAVIER_INIT_COMMANDS])
def test_xavier_init_commands_set_their_config_fields(argv, expected):
    config = resolve(parse(argv))
    assert {field: getattr(config, field) for field in expected} == expected
    defaults = resolve(parse([]))
    others = {f for f in vars(defaults) if f not in expected and f not in ("backend",)}
    assert {f: getattr(config, f) for f in others} == {f: getattr(defaults, f) for f in others}


def test_resolve_is_idempotent_so_a_resolved_config_resumes():
    for argv, _ in XAVIER_INIT_COMMANDS:
        once = resolve(parse(argv))
        assert resolve(once) == once


def test_readme_example_means_what_xavier_init_meant():
    config = resolve(parse(["--xavier", "--activation", "tanh", "--five_layer", "--dataset", "cifar10", "--num_gpus", "1"]))
    assert (config.init, config.hidden_layers, config.dataset, config.num_gpus) == ("normalized", 4, "cifar10", 1)
    assert default_run_name(config) == "tanh-xavier-five_layers"


def test_defaults_and_depth_semantics():
    config = resolve(parse([]))
    assert (config.init, config.hidden_layers, config.activation, config.lr) == ("standard", 3, "tanh", 1e-3)
    assert default_run_name(config) == "tanh-random-four_layers"
    assert resolve(parse(["--is_five_layers"])).hidden_layers == 4
    paper = resolve(parse(["--hidden_layers", "5", "--init", "xavier_init_random"]))
    assert paper.hidden_layers == 5 and default_run_name(paper) == "tanh-xavier_init_random-six_layers"


BAD_INPUTS = [
    (["--activation", "foo"], "sigmoid"),
    (["--dataset", "imagenet"], "shapeset"),
    (["--init", "foo"], "normalized"),
    (["--lr", "0"], "> 0"), (["--lr", "-1"], "> 0"), (["--lr", "abc"], "> 0"), (["--lr", "nan"], "> 0"),
    (["--lr", "inf"], "> 0"),
    (["--batch_size", "0"], ">= 1"), (["--batch_size", "ten"], ">= 1"),
    (["--epochs", "0"], ">= 1"), (["--steps_per_epoch", "-3"], ">= 1"), (["--hidden_layers", "0"], ">= 1"),
    (["--units", "0"], ">= 1"), (["--steps_per_execution", "0"], ">= 1"),
    (["--seed", "-1"], ">= 0"), (["--num_gpus", "-1"], ">= 0"), (["--num_gpus", "one"], ">= 0"),
    (["--name", "a/b"], "plain directory name"), (["--name", ".."], "plain directory name"),
    (["--activation"], "expected one argument"),
    (["--frobnicate"], "unrecognized arguments"),
    (["bogus-study"], "valid: glorot, constnet"),
    (["--xavier", "--init", "standard"], "only one"),
    (["--five_layer", "--hidden_layers", "5"], "only one"),
    (["--num_gpus", "2", "--steps_per_execution", "4"], "MirroredStrategy"),
    (["preview", "--count", "0"], ">= 1"),
    # constnet (BeyondSigProp's train.py flags) and sweep
    (["constnet", "--layers", "15"], "3n + 4"), (["constnet", "--layers", "4"], "3n + 4"),
    (["constnet", "--widen-factor", "0"], ">= 1"), (["constnet", "-b", "0"], ">= 1"),
    (["constnet", "--lr", "0"], "> 0"), (["constnet", "--epochs", "0"], ">= 1"),
    (["constnet", "--droprate", "1"], "[0, 1)"), (["constnet", "--droprate", "-0.1"], "[0, 1)"),
    (["constnet", "--momentum", "1.5"], "[0, 1)"), (["constnet", "--wd", "-1"], ">= 0"),
    (["constnet", "--lrelu", "-1"], ">= 0"), (["constnet", "--noise", "x"], ">= 0"),
    (["constnet", "-W", "-2"], "-1 for the default"),
    (["constnet", "-d", "1:0"], "a <= b"), (["constnet", "-d", "gpu0"], "a <= b"), (["constnet", "-d", "0:1:2"], "a <= b"),
    (["constnet", "-a", "resnet"], "leakynet"), (["constnet", "--dataset", "mnist1d"], "cifar100"),
    (["constnet", "-a", "leakynet"], "needs --init"),
    (["constnet", "-a", "leakynet", "--layers", "16", "--init", "1_ii"], "depth 16 needs 13"),
    (["constnet", "-a", "leakynet", "--layers", "16", "--init", "1_iiii_iiii_iiix"], "unknown layer code 'x'"),
    (["constnet", "--layers", "16", "--init", "h_hhhh_hhhh_hhhh"], "-a leakynet"),
    (["constnet", "--fixup"], "needs --batchnorm"),
    (["constnet", "--nesterov", "--momentum", "0"], "--momentum > 0"), (["constnet", "--debug", "--resume"], "--debug"),
    (["constnet", "-d", "0:1", "--layers", "7", "--widen-factor", "1", "--dataset", "digits"], "GPU(s) are visible"),
    (["sweep", "--init", "1_1111_1111_1111"], "sets --init"), (["sweep", "-a", "constnet"], "sets -a"),
    (["sweep", "--layers", "7"], "depth 7 needs 4"),
    # resuming (cases that need an existing run directory are in tests/test_resume.py)
    (["--resume", "--name", "nothere"], "nothing to resume"), (["constnet", "--resume"], "nothing to resume"),
    (["--resume", "--overwrite"], "pass only one"), (["--resume", "--debug"], "nothing to --resume"),
    (["resume"], "required: RUN_DIR"), (["resume", "nowhere"], "nothing to resume"),
]


@pytest.mark.parametrize("argv,hint", BAD_INPUTS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_input_is_one_line_and_writes_nothing(argv, hint, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv if argv[0] in ("preview", "resume") else [*argv, "--output_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code != 0
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert hint in err
    assert os.listdir(tmp_path) == []


def test_offline_dataset_error_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    code = main(["--xavier", "--activation", "tanh", "--five_layer", "--dataset", "cifar10", "--num_gpus", "1",
                 "--output_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1
    assert os.path.join(str(tmp_path / "keras"), "datasets", "cifar-10-batches-py-target") in err
    assert not (tmp_path / "runs").exists()


def test_existing_run_is_not_overwritten(tmp_path, capsys):
    run = tmp_path / "runs" / "digits" / "tanh-random-four_layers"
    run.mkdir(parents=True)
    (run / "history.h5").write_bytes(b"precious")
    code = main(["--dataset", "digits", "--output_dir", str(tmp_path / "runs")])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert os.listdir(run) == ["history.h5"] and (run / "history.h5").read_bytes() == b"precious"


def test_output_dir_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    code = main(["--dataset", "digits", "--output_dir", str(blocker)])
    assert code == 2 and "is a file" in capsys.readouterr().err
    assert blocker.read_text() == "not a folder"


def test_unwritable_output_dir(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root)")
        code = main(["--dataset", "digits", "--output_dir", str(locked / "runs")])
        assert code == 2 and "not writable" in capsys.readouterr().err
        assert os.listdir(locked) == []
    finally:
        locked.chmod(0o700)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs Linux /proc")
def test_output_dir_that_cannot_be_created_even_by_root(capsys):
    """/proc refuses new folders to everyone: the unwritable case that also runs as root (as CI does)."""
    code = main(["--dataset", "digits", "--units", "8", "--epochs", "1", "--output_dir", "/proc/initlab-runs"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot create run directory" in err, err
    assert not os.path.exists("/proc/initlab-runs")


def test_num_gpus_zero_hides_gpus_before_tensorflow_starts(monkeypatch):
    from lib import environment

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    environment.prepare(["--dataset", "digits", "--num_gpus", "1"])
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    for argv in (["--num_gpus", "0"], ["--xavier", "--num_gpus=0"]):
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
        environment.prepare(argv)
        assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


def cli_imports(*argv):
    """(report, stderr) of tests/scripts/cli_imports.py: main(argv) in a fresh process."""
    result = run_script("cli_imports.py", *argv, timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_cli_parses_flags_without_starting_tensorflow():
    """Flag errors must be instant and one line: TensorFlow prints start-up notices when imported."""
    report, stderr = cli_imports("--activation", "nope")
    assert report == {"code": 2, "keras": False, "tensorflow": False}
    assert stderr.count("\n") == 1


@pytest.mark.parametrize("argv", [["--help"], *([name, "--help"] for name in (*STUDIES.names(), *commands()))],
                         ids=" ".join)
def test_help_of_every_study_and_command_never_starts_keras(argv):
    report, _ = cli_imports(*argv)
    assert report == {"code": 0, "keras": False, "tensorflow": False}


def test_a_full_disk_under_any_command_is_one_line(capsys, monkeypatch):
    """A writer no run owns (analyze's figures and tables) on a full disk: one line naming the file, exit 1."""
    import errno

    import lib.cli

    def full(argv):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "report/summary.csv")

    monkeypatch.setattr(lib.cli, "dispatch", full)
    assert main(["analyze", "x"]) == 1
    assert capsys.readouterr().err == (f"error: cannot write report/summary.csv: {os.strerror(errno.ENOSPC)}; free some "
                                       "space, then try again\n")


def test_a_run_is_resumed_whatever_the_spelling_of_its_output_dir():
    """--output_dir found the run; a sweep passes it absolute where the run was started with a relative one."""
    from lib.runs.resume import differing_fields

    saved = {"output_dir": "model_history", "lr": 0.1}
    assert differing_fields(saved, {"output_dir": os.path.abspath("model_history"), "lr": 0.1}) == []
    assert differing_fields(saved, {"output_dir": "model_history", "lr": 0.2}) == ["lr 0.1 -> 0.2"]
