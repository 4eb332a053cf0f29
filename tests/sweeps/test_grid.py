"""Grid files: every shipped grid plans and prints its runs (`--dry_run`), its header states its size
truly; a grid with an unknown study, key, flag or a bad value is one line naming the file and the
key, exit code 2, and nothing written. No Ray, no Keras: all of this happens before either starts."""

import json
import os
import re
import subprocess
import sys

import pytest

from lib.cli import main
from lib.sweeps.command import GRIDS, shipped_grids
from lib.sweeps.grid import read_grid
from lib.sweeps.plan import make_plan
from tests.helpers import REPO

SIZE = re.compile(r"^# size: (\d+) runs", re.MULTILINE)


def grid_file(name: str) -> str:
    return os.path.join(GRIDS, f"{name}.yaml")


@pytest.mark.parametrize("name", shipped_grids())
def test_every_shipped_grid_prints_its_plan_and_states_its_size(name, tmp_path, capsys):
    text = open(grid_file(name)).read()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert any(f"lib/sweeps/grids/{name}.yaml" in line for line in header if line.startswith("# command:"))
    assert any(line.startswith("# cost:") for line in header)
    assert main(["sweep", grid_file(name), "--dry_run", "--output_dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    runs = make_plan(read_grid(grid_file(name)), str(tmp_path)).runs
    assert int(SIZE.search(text).group(1)) == len(runs)
    for run in runs:
        assert f"start   {run.name}\n" in out and os.path.basename(run.path) == run.name
    assert len({run.path for run in runs}) == len(runs)
    plan = json.loads((tmp_path / read_grid(grid_file(name)).name / "plan.json").read_text())
    assert [run["name"] for run in plan["runs"]] == [run.name for run in runs]


def test_glorot_table1_is_the_papers_protocol(tmp_path):
    plan = make_plan(read_grid(grid_file("glorot_table1")), str(tmp_path))
    configs = plan.configs
    assert {(c.activation, c.init) for c in configs} == {("sigmoid", "standard"), ("tanh", "standard"), ("tanh", "normalized"),
                                                         ("softsign", "standard"), ("softsign", "normalized")}
    assert {c.dataset for c in configs} == {"shapeset", "mnist", "cifar10"}
    assert {(c.hidden_layers, c.units, c.batch_size, c.record_every) for c in configs} == {(5, 1000, 10, 0)}
    assert plan.grid.select == "--lr" and plan.grid.columns == ("test_error_percent",)
    assert plan.runs[0].path == str(tmp_path / "glorot_table1" / "shapeset" / plan.runs[0].name)


def test_the_leakynet_grid_file_is_the_sweep_command_without_a_grid(tmp_path, monkeypatch):
    from lib.studies.constnet.sweep import leakynet_plan

    monkeypatch.chdir(tmp_path)
    from_file = make_plan(read_grid(grid_file("leakynet")), str(tmp_path)).configs
    built_in = leakynet_plan([]).configs
    ignored = ("output_dir", "name")
    assert [{k: v for k, v in vars(c).items() if k not in ignored} for c in from_file] == \
        [{k: v for k, v in vars(c).items() if k not in ignored} for c in built_in]


BAD_GRIDS = [
    ("study: nope\n", "study: unknown study 'nope'"),
    ("fixed: {--lr: 0.1}\n", "study: missing"),
    ("study: glorot\nsweeps: 3\n", "sweeps: unknown key"),
    ("study: glorot\naxes: {--lrr: [0.1]}\n", "axes: --lrr: not a flag of study glorot (did you mean --lr?)"),
    ("study: glorot\naxes: {--lr: [0.1, abc]}\n", "axes: --lr abc: argument --lr: must be a number > 0"),
    ("study: glorot\naxes: {--activation: [tanh, swish]}\n", "axes: --activation swish: argument --activation: invalid choice"),
    ("study: glorot\naxes: {--lr: 0.1}\n", "axes: --lr: give a non-empty list"),
    ("study: glorot\nfixed: {--xavier: maybe}\n", "fixed: --xavier: 'maybe' is not true or false"),
    ("study: glorot\nfixed: {--units: true}\n", "fixed: argument --units: must be an integer >= 1, got 'true'"),
    ("study: glorot\nfixed: {--output_dir: elsewhere}\n", "fixed: --output_dir: the sweep sets it"),
    ("study: glorot\nfixed: {--debug: true}\n", "fixed: --debug: the sweep sets it"),
    ("study: glorot\nfixed: {--name: mine}\n", "--name: the sweep names each run itself"),
    ("study: glorot\nfixed: {--num_hosts: 2}\n", "fixed: --num_hosts: a sweep runs each point as one process"),
    ("study: constnet\nfixed: {--lr: 0.1}\naxes: {--learning-rate: [0.2]}\n", "axes: --learning-rate: sets what fixed: --lr already sets"),
    ("study: glorot\naxes: {--lr: [0.1]}\naxes: {--units: [8]}\n", "'axes' is given twice"),
    ("study: glorot\nzip: [{--lr: [0.1, 0.2], --units: [8]}]\n", "zip[0]: its lists must have equal lengths"),
    ("study: glorot\nzip: [{model: [a, b]}]\n", "zip[0]: a group needs at least one flag"),
    ("study: glorot\naxes: {--lr: [0.1, 0.1]}\n", "axes: --lr: 0.1 is listed twice"),
    ("study: glorot\nzip: [{model: [a, a], --lr: [0.1, 0.1]}]\n", "zip[0]: model a, --lr 0.1 is listed twice"),
    ("study: glorot\naxes: {--seed: [0, 1]}\n", "--seed: its column 'seed' is sweep.csv's own; list the seeds under seeds:"),
    ("study: glorot\nfixed: {--xavier: true}\naxes: {--init: [standard]}\n", "run init=standard: --xavier and --init"),
    ("study: glorot\naxes: {--units: [8]}\nselect: {best_validation: --lr}\n", "select: best_validation: '--lr' is not an axis key"),
    ("study: glorot\nseeds: [0, one]\n", "seeds: give a list of integers"),
    ("study: glorot\nfixed: {--seed: 1}\nseeds: [0]\n", "seeds: fixed: --seed sets the seed already"),
    ("study: glorot\ngoal: biggest\n", "goal: 'biggest' is not one of max, min"),
    ("study: [glorot\n", "not a valid grid file"),
    ("- study: glorot\n", "a grid file is a YAML mapping"),
]


@pytest.mark.parametrize("text,hint", BAD_GRIDS, ids=[hint for _, hint in BAD_GRIDS])
def test_a_bad_grid_is_one_line_naming_the_file_and_the_key_and_writes_nothing(text, hint, tmp_path, capsys):
    grid = tmp_path / "bad.yaml"
    grid.write_text(text)
    assert main(["sweep", str(grid), "--output_dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {grid}: "), err
    assert hint in err, err
    assert sorted(os.listdir(tmp_path)) == ["bad.yaml"]


def test_a_missing_grid_file_is_named(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nowhere.yaml"), "--output_dir", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: cannot read grid file {tmp_path / 'nowhere.yaml'}: No such file or directory\n"
    assert os.listdir(tmp_path) == []


def test_run_names_are_readable_unique_and_leave_out_absent_flags(tmp_path):
    grid = tmp_path / "names.yaml"
    grid.write_text("study: weightnorm\nfixed: {--dataset: digits, --weight_norm: True}\naxes: {--lr: [1e-3, 0.10]}\n"
                    "zip:\n  - method: [proposed, hanin]\n    --init: [orthogonal_proposed, orthogonal_proposed]\n"
                    "    --nn: [resnet, resnet]\n    --init_extra_param: [~, hanin]\nseeds: [1, 2]\n")
    plan = make_plan(read_grid(str(grid)), str(tmp_path / "out"))
    names = [run.name for run in plan.runs]
    assert names[:4] == ["lr=1e-3,method=proposed,seed=1", "lr=1e-3,method=proposed,seed=2", "lr=1e-3,method=hanin,seed=1",
                         "lr=1e-3,method=hanin,seed=2"]
    assert len(set(names)) == 8 and "lr=0.10,method=hanin,seed=2" in names  # values exactly as written
    first = plan.runs[0].argv
    assert "--init_extra_param" not in first and "--model" in first and first[first.index("--model") + 1] == names[0]
    assert "--weight_norm" in first  # a switch given as YAML's True
    assert dict(plan.runs[2].values)["init_extra_param"] == "hanin"


def test_planning_a_sweep_imports_neither_keras_nor_ray(tmp_path):
    code = ("import sys; from lib.cli import main; "
            f"code = main(['sweep', {grid_file('glorot_table1')!r}, '--dry_run', '--output_dir', {str(tmp_path)!r}]); "
            "print(code, *(name in sys.modules for name in ('keras', 'tensorflow', 'jax', 'ray')))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": REPO})
    assert result.stdout.splitlines()[-1] == "0 False False False False", result.stdout + result.stderr
