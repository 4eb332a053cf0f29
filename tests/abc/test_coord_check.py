"""mup's coordinate check on the abc MLP (lib/studies/abc/coord_check*.py, reference/weightnorm_abc.md §C7).

Widths 64..1024, 2 seeds, L + 1 = 4 layers (two hidden m → m layers), digits' fixed batch of 64.

Bounds. A layer's l1 is a mean over m·64 coordinates of a random network, so at width m it deviates from
its limit by O(m^{−½}) relatively (about 12% at m = 64, finite-width corrections of the same order); a
least-squares slope over log₂ widths 6..10 (2 seeds) then scatters by about ±0.05 around its limit, so
|slope| < 0.15 is the flat bound (measured under μP at lr 0.1, t = 1..3: at most 0.06 on TensorFlow, 0.06
on JAX, whose random draws differ). Under SP the first update moves a hidden pre-activation by Θ(m^{½})
(dL/dh ~ m^{−½}, summed over m inputs), under μP by Θ(1): the slope of delta_l1 = mean|h_2 − h_1| is +½
against 0 (measured at lr 0.5: SP 0.35 and 0.52 on TensorFlow, 0.38 and 0.56 on JAX, below ½ for hidden_1
because its change also carries the input layer's Θ(m^{−½}) one; μP ≤ 0.04); the bounds are > 0.25 and
< 0.15. lr 0.5 makes SP's update dominate its Θ(1) init at these widths, so l1 itself grows too (measured
≥ 0.32 against μP's ≤ 0.07 at t = 2: bounds > 0.25 and < 0.15).
"""

import os

import numpy as np
import pandas as pd
import pytest

from lib.errors import UsageError
from lib.studies.abc import coord_check
from lib.studies.abc.coord_check_command import run_coord_check, width_list
from lib.studies.abc.coord_check_plots import draw_coord_figure

WIDTHS = (64, 128, 256, 512, 1024)
N_LAYERS = 4
HIDDEN = ("act_0", "hidden_1", "act_1", "hidden_2", "act_2")  # every layer output of width m after the input layer's
FLAT = 0.15


@pytest.fixture(scope="module")
def mup_frame():
    return coord_check.coord_check_frame(["mup"], WIDTHS, steps=3, seeds=2, n_layers=N_LAYERS)


@pytest.fixture(scope="module")
def large_lr_frame():
    return coord_check.coord_check_frame(["mup", "sp"], WIDTHS, steps=2, seeds=2, n_layers=N_LAYERS, lr=0.5)


def _slopes(df, y="l1"):
    return coord_check.slopes(df, y).set_index(["parameterization", "module", "t"])["slope"]


def test_frame_has_a_row_per_parameterization_width_seed_step_and_module(mup_frame):
    modules = [name for name, _, _ in coord_check.probed_layers(N_LAYERS)]
    assert list(mup_frame.columns) == list(coord_check.COLUMNS)
    assert len(mup_frame) == len(WIDTHS) * 2 * 3 * len(modules)
    assert set(mup_frame["module"]) == set(modules) == {"input_layer", *HIDDEN, "output_layer"}
    assert sorted(mup_frame["t"].unique()) == [1, 2, 3] and sorted(mup_frame["seed"].unique()) == [0, 1]
    assert np.isfinite(mup_frame[list(coord_check.STATISTICS)].to_numpy()).all()
    # l1 is mean |x|: at most the rms l2, at most max |x|; ReLU outputs are non-negative (mean = l1)
    assert (mup_frame["l1"] <= mup_frame["l2"] + 1e-9).all() and (mup_frame["l2"] <= mup_frame["max_abs"] + 1e-9).all()
    relu = mup_frame[mup_frame["kind"] == "activation"]
    np.testing.assert_allclose(relu["mean"], relu["l1"], rtol=1e-6)
    # t = 1 is the init, before any update; every later step has moved every layer
    assert (mup_frame[mup_frame["t"] == 1]["delta_l1"] == 0).all() and (mup_frame[mup_frame["t"] > 1]["delta_l1"] > 0).all()


def test_seeds_differ_and_the_batch_does_not():
    x, y = coord_check.fixed_batch("digits", 8)
    again, _ = coord_check.fixed_batch("digits", 8)
    np.testing.assert_array_equal(x, again)
    assert x.shape == (8, 8, 8, 1) and y.shape == (8, 10)
    df = coord_check.coord_check_frame(["sp"], (16, 32), steps=1, seeds=2, n_layers=2, batch_size=8)
    by_seed = df[df["module"] == "input_layer"].set_index(["width", "seed"])["l1"]
    assert by_seed[(16, 0)] != by_seed[(16, 1)]


def test_mup_hidden_l1_is_flat_in_width_at_every_step(mup_frame):
    slope = _slopes(mup_frame)
    for module in ("input_layer", *HIDDEN):
        for t in (1, 2, 3):
            assert abs(slope[("mup", module, t)]) < FLAT, (module, t, slope[("mup", module, t)])
    # the logits shrink like m^{-1/2} at init under muP (mup's README note, §C7)
    assert -0.8 < slope[("mup", "output_layer", 1)] < -0.3


def test_sp_hidden_updates_grow_like_sqrt_width_mup_updates_do_not(large_lr_frame):
    delta, l1 = _slopes(large_lr_frame, "delta_l1"), _slopes(large_lr_frame)
    for module in ("hidden_1", "hidden_2"):
        assert delta[("sp", module, 2)] > 0.25, (module, delta[("sp", module, 2)])
        assert abs(delta[("mup", module, 2)]) < FLAT, (module, delta[("mup", module, 2)])
        assert l1[("sp", module, 2)] > 0.25 and abs(l1[("mup", module, 2)]) < FLAT
        assert abs(l1[("sp", module, 1)]) < FLAT  # SP's growth comes from the update, not the init
    assert l1[("sp", "output_layer", 2)] > 0.8  # SP's logits grow like m after one SGD step


def test_slopes_recover_a_known_power_law():
    rows = [{"parameterization": "p", "module": "m", "layer": 0, "kind": "activation", "t": 1, "width": w, "seed": s,
             "l1": 3.0 * w ** 0.5} for w in (8, 16, 64) for s in (0, 1)]
    assert coord_check.slopes(pd.DataFrame(rows))["slope"].iloc[0] == pytest.approx(0.5)


def test_figure_has_a_panel_per_step_and_a_line_per_module(mup_frame):
    figure = draw_coord_figure(mup_frame)
    axes = figure.axes
    assert len(axes) == 3
    assert [ax.get_title() for ax in axes] == ["mup  t=1", "mup  t=2", "mup  t=3"]
    assert len(axes[0].get_lines()) == 2 * N_LAYERS - 1
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="one parameterization"):
        draw_coord_figure(pd.concat([mup_frame, mup_frame.assign(parameterization="sp")]))


def test_command_writes_frame_slopes_and_one_figure_per_parameterization(tmp_path, capsys):
    out = str(tmp_path / "cc")
    argv = ["--parameterization", "mup,sp", "--widths", "16,32", "--steps", "2", "--seeds", "1", "--n_layers", "2",
            "--out", out]
    assert run_coord_check(argv) == 0
    assert sorted(os.listdir(out)) == ["coord_check.csv", "coord_check_mup.png", "coord_check_slopes.csv",
                                       "coord_check_sp.png"]
    df = pd.read_csv(os.path.join(out, "coord_check.csv"))
    assert set(df["parameterization"]) == {"mup", "sp"} and set(df["width"]) == {16, 32}
    assert "log-log slope of l1" in capsys.readouterr().out
    slopes = pd.read_csv(os.path.join(out, "coord_check_slopes.csv"))
    assert {"slope", "delta_l1_slope"} <= set(slopes.columns) and len(slopes) == 2 * 2 * 3
    assert slopes[slopes["t"] == 1]["delta_l1_slope"].isna().all() and slopes[slopes["t"] == 2]["slope"].notna().all()
    with pytest.raises(UsageError, match="exists; pass --overwrite"):
        run_coord_check(argv)


@pytest.mark.parametrize("argv, message", [
    (["--parameterization", "mup,bogus"], "unknown parameterization 'bogus' (valid: ntk, mup"),
    (["--widths", "64,abc"], "must be comma-separated integers >= 1"),
    (["--widths", "64"], "at least two different widths"),
    (["--widths", "64,...,1000"], "1000 is not 64 times a power of 2"),
    (["--widths", "0,64"], "must be comma-separated integers >= 1"),
    (["--steps", "0"], "--steps"),
    (["--n_layers", "1"], "at least 2"),
    (["--dataset", "cifar10"], "invalid choice"),
])
def test_command_errors_are_one_line(argv, message, tmp_path):
    with pytest.raises(UsageError) as error:
        run_coord_check([*argv, "--out", str(tmp_path)])
    assert message in str(error.value) and "\n" not in str(error.value)
    assert os.listdir(tmp_path) == []


def test_widths_ellipsis_fills_in_the_doublings():
    assert width_list("64,...,4096") == [64, 128, 256, 512, 1024, 2048, 4096]
    assert width_list("256, 64,128") == [64, 128, 256]
