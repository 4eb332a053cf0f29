"""`experiment.py weightnorm figure1` (lib/studies/weightnorm/figure1_command.py): the synthetic figure without
--nn, the real-model curves with it, one-line errors with exit code 2 before anything is computed, and no file
replaced without --overwrite."""

import os

import keras
import pandas as pd
import pytest

from lib.cli import main
from lib.studies.weightnorm import figure1

TINY = ["--nn", "mlp", "--dataset", "digits", "--num_layers", "3", "--hidden_size", "8", "--samples", "12",
        "--batch_size", "5"]


def run(capsys, *argv):
    """(exit code, stdout, stderr) of `experiment.py weightnorm figure1 ARGV`."""
    code = main(["weightnorm", "figure1", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_real_model_curves_are_a_png_and_a_csv_and_never_silently_replaced(tmp_path, capsys):
    code, out, _ = run(capsys, *TINY, "--init", "he_g1,traditional", "--init", "orthogonal_proposed", "--out", str(tmp_path))
    assert code == 0
    png, csv = tmp_path / "figure1_mlp-3x8_digits.png", tmp_path / "figure1_mlp-3x8_digits.csv"
    assert png.stat().st_size > 10_000
    df = pd.read_csv(csv)
    assert list(df["init"].unique()) == ["he_g1", "he", "orthogonal_proposed"]  # the pre-rename name mapped
    assert set(df["samples"]) == {12} and set(df["direction"]) == {"forward", "backward"}
    assert out.count("‖h^L‖/‖h^0‖ =") == 3  # a progress line per init measured

    before = csv.stat().st_mtime_ns
    code, _, err = run(capsys, *TINY, "--out", str(tmp_path))
    assert code == 2 and err.count("\n") == 1 and "--overwrite" in err
    assert csv.stat().st_mtime_ns == before
    assert run(capsys, *TINY, "--init", "he", "--out", str(tmp_path), "--overwrite")[0] == 0
    assert list(pd.read_csv(csv)["init"].unique()) == ["he"]


def test_without_nn_it_writes_the_synthetic_figure(tmp_path, capsys, monkeypatch):
    calls = []

    def write_figure1(out, progress, *, samples, seed):
        calls.append((out, samples, seed))
        return []

    monkeypatch.setattr(figure1, "write_figure1", write_figure1)
    assert run(capsys, "--samples", "7", "--seed", "3", "--out", str(tmp_path))[0] == 0
    assert calls == [(str(tmp_path), 7, 3)]
    (tmp_path / figure1.TABLE_FILE).write_text("")
    code, _, err = run(capsys, "--out", str(tmp_path))
    assert code == 2 and "figure1.csv exists" in err and len(calls) == 1
    assert run(capsys, "--out", str(tmp_path), "--overwrite")[0] == 0 and len(calls) == 2


def test_the_default_folder_and_samples_are_figure_1s():
    from lib.studies.weightnorm.figure1_command import parser

    args = parser().parse_args([])
    assert args.out == os.path.join("figures", "weightnorm_figure1") and args.samples == 1000 and args.nn is None


@pytest.mark.parametrize("argv,message", [
    (["--init", "he"], "--init applies to the real-model curves: pass --nn"),
    (["--num_blocks", "3"], "--num_blocks applies to the real-model curves"),
    (["--nn", "mlp", "--init", "he,glorot"], "unknown init 'glorot'"),
    (["--nn", "mlp", "--num_blocks", "3"], "--num_blocks does not apply to --nn mlp"),
    (["--nn", "wrn", "--hidden_size", "8"], "--hidden_size does not apply to --nn wrn"),
    (["--nn", "cnn", "--dataset", "mnist1d"], "only --nn mlp"),
    (["--nn", "vgg"], "invalid choice: 'vgg'"),
    (["--samples", "0"], "must be an integer >= 1"),
    (["--nn", "mlp", "--inputs", "noise"], "invalid choice: 'noise'"),
    (["--frobnicate"], "unrecognized arguments"),
])
def test_bad_inputs_are_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "figures"))
    assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "figures").exists()


def test_out_that_is_a_file_and_a_backend_chosen_too_late_are_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    code, _, err = run(capsys, *TINY, "--out", str(tmp_path / "taken"))
    assert code == 2 and "is a file" in err and err.count("\n") == 1
    other = "jax" if keras.backend.backend() == "tensorflow" else "tensorflow"
    code, _, err = run(capsys, *TINY, "--backend", other, "--out", str(tmp_path / "f"))
    assert code == 2 and "before Keras starts" in err and err.count("\n") == 1
