"""abc-parameterizations (reference/weightnorm_abc.md §B1, §B2) and the abc_mlp built from them.

The expected exponents are written out below from §B2's table for L = 6 (n_layers = 7), by hand, not
computed by the formulas of lib/studies/abc/parameterizations.py; the values at m = 1024 are then
m^{−exponent}, and §B2's own numbers (IP-LLR's first-step m^{3.5} ≈ 3.4e10 and m^4 ≈ 1.1e12, μP's
effective weights) are checked as stated.
"""

import math

import keras
import numpy as np
import pytest

from lib.studies.abc.parameterizations import ACTIVATIONS, PARAMETERIZATIONS, parameterization, sigma2
from models import MODELS
from models.abc_mlp import ABCDense, abc_layers, lr_scales

L, M, D, K = 6, 1024, 784, 10  # §B5: Ls = [6], WIDTHS = [1024]; MNIST's d = 784, 10 classes
ZERO = (0,) * 7
IP_A = (0, 1, 1, 1, 1, 1, 1)
MEAN_FIELD_C = (-1, -2, -2, -2, -2, -2, -1)
# §B2 at L = 6: a, b, c (after any warm-up), IP-LLR's warm-up c, IP-LLR-bias's bias c, and μ₀.
EXPECTED = {
    "ntk": {"a": (0, .5, .5, .5, .5, .5, .5), "b": ZERO, "c": ZERO},
    "mup": {"a": (-.5, 0, 0, 0, 0, 0, .5), "b": (.5,) * 7, "c": ZERO},
    "ip": {"a": IP_A, "b": ZERO, "c": ZERO},  # the generic IP's c is passed in; 0 unless given
    "naive_ip": {"a": IP_A, "b": ZERO, "c": MEAN_FIELD_C},
    "ipllr": {"a": IP_A, "b": ZERO, "c": MEAN_FIELD_C, "warmup_c": (-3.5, -4, -4, -4, -4, -4, -3.5)},
    "ipllr_bias": {"a": IP_A, "b": ZERO, "c": MEAN_FIELD_C, "warmup_c": (-3.5, -4, -3.5, -3, -2.5, -2, -1),
                   "bias_c": (-1, -1, -1, -1, -1, -1, 0), "warmup_bias_c": (-3.5, -3, -2.5, -2, -1.5, -1, 0)},
    "ip_non_centered": {"a": IP_A, "b": ZERO, "c": MEAN_FIELD_C, "mean": 1.0},
    "sp": {"a": ZERO, "b": (0, .5, .5, .5, .5, .5, .5), "c": ZERO},  # fan-in init, one LR (module docstring)
}
LAYERS = ["input_layer"] + [f"hidden_{i}" for i in range(1, L)] + ["output_layer"]


def build(name, width=M, n_layers=L + 1, input_dim=D, classes=K, seed=0, **options):
    return MODELS.build("abc_mlp", (input_dim,), classes, seed=seed, parameterization=name, width=width,
                        n_layers=n_layers, **options)


def variance_tolerance(count):
    """Five standard errors of a sample variance of `count` Gaussian draws (relative: √(2/n))."""
    return 5 * math.sqrt(2 / count)


def test_every_parameterization_has_an_expected_table():
    assert set(EXPECTED) == set(PARAMETERIZATIONS)


@pytest.mark.parametrize("name", PARAMETERIZATIONS)
def test_exponents_multipliers_init_variances_and_lr_scales_at_depth6_width1024(name):
    """Per layer of a built model (relu, σ² = 2, every layer with a bias): the multiplier is m^{−a},
    the stored kernel has variance m^{−2b}·Var U (U: input σ²/(d+1), intermediate σ², output 1; mean
    m^{−b}μ₀), the bias m^{−2b}·Var v (v: σ², output 1; unscaled for IP-LLR-bias), and the learning-rate
    scales are m^{−c} (during and after IP-LLR's warm-up). Variances of n ≥ 1000 draws are checked to
    five standard errors, 5·√(2/n) (0.7 % for an m×m kernel, 22 % for a bias of m); the output bias's
    10 draws are too few to measure."""
    expected = EXPECTED[name]
    p = parameterization(name, L + 1, activation="relu")
    assert (p.a, p.b, p.c) == (expected["a"], expected["b"], expected["c"])
    model = build(name, bias=True)
    layers = abc_layers(model)
    assert [layer.name for layer in layers] == LAYERS
    scales = lr_scales(model)
    warmup = lr_scales(model, warmup=True) if "warmup_c" in expected else None
    if warmup is None:
        with pytest.raises(ValueError, match="no warm-up"):
            lr_scales(model, warmup=True)
    for index, layer in enumerate(layers):
        a, b, c = expected["a"][index], expected["b"][index], expected["c"][index]
        assert layer.multiplier == pytest.approx(M ** -a, rel=1e-12)
        kernel, bias = (keras.ops.convert_to_numpy(v) for v in (layer.kernel, layer.bias))
        u_variance = 2 / (D + 1) if index == 0 else 1.0 if index == L else 2.0
        mean = 0.0 if index == 0 else expected.get("mean", 0.0) * M ** -b
        assert np.var(kernel) == pytest.approx(M ** (-2 * b) * u_variance, rel=variance_tolerance(kernel.size))
        assert abs(np.mean(kernel) - mean) < 5 * math.sqrt(M ** (-2 * b) * u_variance / kernel.size)
        if bias.size >= 1000:
            bias_scale = 1.0 if name == "ipllr_bias" else M ** (-2 * b)
            assert np.var(bias) == pytest.approx(bias_scale * 2.0, rel=variance_tolerance(bias.size))
        bias_c = expected.get("bias_c", expected["c"])[index]
        assert scales[f"{layer.name}/kernel"] == pytest.approx(M ** -c, rel=1e-12)
        assert scales[f"{layer.name}/bias"] == pytest.approx(M ** -bias_c, rel=1e-12)
        if warmup is not None:
            warmup_c = expected["warmup_c"][index]
            assert warmup[f"{layer.name}/kernel"] == pytest.approx(M ** -warmup_c, rel=1e-12)
            warmup_bias_c = expected.get("warmup_bias_c", expected["warmup_c"])[index]
            assert warmup[f"{layer.name}/bias"] == pytest.approx(M ** -warmup_bias_c, rel=1e-12)
    assert set(scales) == {v.path for v in model.trainable_variables}


def test_ipllr_first_step_scales_are_the_reference_numbers():
    """§B2: "IP-LLR with m = 1024 and L = 6 gives first-step raw scales of m^{3.5} ≈ 3.4e10 and m^4 ≈ 1.1e12";
    Naive-IP's "effective LRs: η·m for the input and output layers, η·m² for hidden layers"."""
    warmup = lr_scales(build("ipllr", input_dim=8), warmup=True)
    after = lr_scales(build("ipllr", input_dim=8))
    assert warmup["input_layer/kernel"] == warmup["output_layer/kernel"] == pytest.approx(3.436e10, rel=1e-3)
    assert warmup["hidden_3/kernel"] == pytest.approx(1.0995e12, rel=1e-3)
    assert after["input_layer/kernel"] == after["output_layer/kernel"] == M
    assert after["hidden_3/kernel"] == M ** 2


def test_mup_effective_weights_are_the_reference_ones():
    """§B2 μP effective weights (multiplier × stored): input N(0, σ²/(d+1)), hidden N(0, σ²/m), output
    N(0, 1/m²). Tolerance: five standard errors of the variance, 5·√(2/n)."""
    layers = abc_layers(build("mup"))
    expected = {0: 2 / (D + 1), 1: 2 / M, L: 1 / M ** 2}
    for index, variance in expected.items():
        effective = layers[index].multiplier * keras.ops.convert_to_numpy(layers[index].kernel)
        assert np.var(effective) == pytest.approx(variance, rel=variance_tolerance(effective.size))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_sigma2_per_activation_sets_the_input_and_hidden_variance(activation):
    """§B1: relu 2, gelu 4, elu and tanh 1, anything else 2; measured on a built NTK model (b = 0, so
    Var U is the stored variance), to five standard errors."""
    expected = {"relu": 2, "gelu": 4, "elu": 1, "tanh": 1}.get(activation, 2)
    assert sigma2(activation) == expected
    layers = abc_layers(build("ntk", width=256, n_layers=3, input_dim=255, activation=activation))
    hidden = keras.ops.convert_to_numpy(layers[1].kernel)
    first = keras.ops.convert_to_numpy(layers[0].kernel)
    assert np.var(hidden) == pytest.approx(expected, rel=variance_tolerance(hidden.size))
    assert np.var(first) == pytest.approx(expected / 256, rel=variance_tolerance(first.size))  # σ²/(d+1)


NUMPY_ACTIVATIONS = {"relu": lambda h: np.maximum(h, 0), "tanh": np.tanh,
                     "leaky_relu": lambda h: np.where(h > 0, h, 0.01 * h), "identity": lambda h: h}


@pytest.mark.parametrize("name", PARAMETERIZATIONS)
@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu"])
def test_forward_is_the_abc_layer_map(name, activation):
    """h_l = m^{−a_l}(x W_l + b_l) (IP-LLR-bias: m^{−a_l}·x W_l + b_l), x_l = φ(h_l), logits = h_L (§B1),
    recomputed in float64 NumPy from the stored weights; float32 rounding on O(1) values is ~1e-6."""
    width, n_layers, input_dim = 16, 4, 6
    model = build(name, width=width, n_layers=n_layers, input_dim=input_dim, classes=3, activation=activation,
                  bias=True)
    x = np.random.default_rng(1).normal(size=(5, input_dim))
    names = [layer.name for layer in model.layers[1:]]
    probe = keras.Model(model.input, [model.get_layer(n).output for n in names])
    outputs = dict(zip(names, (keras.ops.convert_to_numpy(y) for y in probe(x.astype("float32")))))
    for index, layer in enumerate(abc_layers(model)):
        kernel, bias = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in (layer.kernel, layer.bias))
        a = EXPECTED[name]["a"][min(index, 1) if index < n_layers - 1 else L]  # the L = 6 table's input/hidden/output a
        h = width ** -a * (x @ kernel + bias) if name != "ipllr_bias" else width ** -a * (x @ kernel) + bias
        scale = max(1.0, np.abs(h).max())
        np.testing.assert_allclose(outputs[layer.name], h, atol=1e-5 * scale)
        if index < n_layers - 1:
            x = NUMPY_ACTIVATIONS[activation](outputs[layer.name].astype(np.float64))
            np.testing.assert_allclose(outputs[f"act_{index}"], x, atol=1e-6)


def test_one_seed_gives_every_parameterization_the_same_gaussians():
    """The reference compares parameterizations from identical U and v (`copy_initial_params_from_model`,
    §B3): stored kernels of one seed differ by m^{−b} alone, so SP and NTK compute the same function at
    init (SP's b = ½ is NTK's a = ½), and so do IP, Naive-IP and IP-LLR (they differ in c only)."""
    width, x = 32, np.random.default_rng(2).normal(size=(7, 10)).astype("float32")
    models = {name: build(name, width=width, n_layers=4, input_dim=10, seed=3) for name in PARAMETERIZATIONS}
    for index in range(4):
        ntk, mup = (keras.ops.convert_to_numpy(abc_layers(models[n])[index].kernel) for n in ("ntk", "mup"))
        np.testing.assert_allclose(mup, ntk * width ** -0.5, rtol=1e-6)
    outputs = {name: keras.ops.convert_to_numpy(model(x)) for name, model in models.items()}
    np.testing.assert_allclose(outputs["sp"], outputs["ntk"], rtol=1e-5, atol=1e-6)
    for name in ("naive_ip", "ipllr"):
        np.testing.assert_array_equal(outputs[name], outputs["ip"])
    assert not np.allclose(outputs["ip"], outputs["ntk"])
    other = build("ntk", width=width, n_layers=4, input_dim=10, seed=4)
    assert not np.allclose(keras.ops.convert_to_numpy(other(x)), outputs["ntk"])


def test_bias_rules():
    """§B1: the input layer always has a bias, the others only with `bias`; IP-LLR-bias forces them all (§B2)."""
    plain, with_bias, ipllr_bias = (abc_layers(build(name, width=8, n_layers=3, input_dim=4, **options))
                                    for name, options in (("mup", {}), ("mup", {"bias": True}), ("ipllr_bias", {})))
    assert [layer.bias is not None for layer in plain] == [True, False, False]
    assert all(layer.bias is not None for layer in with_bias + ipllr_bias)
    assert not any(layer.bias_in_multiplier for layer in ipllr_bias)


def test_ip_non_centered_and_init_mean():
    """IP-non-centered draws the intermediate and output U with mean 1 (std unchanged), never the input U."""
    layers = abc_layers(build("ip_non_centered", width=512, n_layers=3, input_dim=64))
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in layers]
    assert abs(np.mean(kernels[0])) < 5 * math.sqrt(2 / 65 / kernels[0].size)
    assert np.mean(kernels[1]) == pytest.approx(1.0, abs=5 * math.sqrt(2 / kernels[1].size))
    assert np.std(kernels[1]) == pytest.approx(math.sqrt(2), rel=variance_tolerance(kernels[1].size))
    assert np.mean(kernels[2]) == pytest.approx(1.0, abs=5 * math.sqrt(1 / kernels[2].size))
    assert parameterization("mup", 3, init_mean=0.5).init_mean == 0.5


def test_generic_ip_takes_its_c_and_others_refuse_one():
    assert parameterization("ip", 4, c=-1).c == (-1, -1, -1, -1)
    assert parameterization("ip", 4, c=[0, -2, -2, -1]).c == (0, -2, -2, -1)
    with pytest.raises(ValueError, match="only the generic ip"):
        parameterization("mup", 4, c=0)
    with pytest.raises(ValueError, match="valid: ntk, mup, ip"):
        parameterization("muP", 4)
    with pytest.raises(ValueError, match="at least 2"):
        parameterization("ntk", 1)
    with pytest.raises(ValueError, match="valid: relu"):
        parameterization("ntk", 3, activation="swish")
    assert parameterization("ipllr", 4, n_warmup_steps=5).n_warmup_steps == 5
    assert parameterization("ipllr_bias", 4, scale_bias_lr=False).bias_lr_scales(64, warmup=True) == (1.0,) * 4


def test_model_survives_saving_with_its_multipliers_and_lr_scales(tmp_path):
    model = build("ipllr_bias", width=8, n_layers=3, input_dim=5)
    path = str(tmp_path / "abc.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), keras.ops.convert_to_numpy(model(x)))
    assert all(isinstance(layer, ABCDense) for layer in abc_layers(restored)) and len(abc_layers(restored)) == 3
    assert [layer.multiplier for layer in abc_layers(restored)] == [layer.multiplier for layer in abc_layers(model)]
    assert lr_scales(restored) == lr_scales(model)
    assert lr_scales(restored, warmup=True) == lr_scales(model, warmup=True)


# The width sweep: L = 3 hidden layers (so IP's slope is −3), widths 64 … 4096, relu, d = 32, 256 outputs,
# 128 Gaussian inputs; the seed count falls with width as the seed-to-seed spread of the output
# variance does (∝ m^{−1/2}): 8 seeds up to m = 1024, 4 at 2048, 2 at 4096. L = 3 rather than the
# reference's 6 keeps the sweep to seconds (on JAX the first draw of each shape compiles) and its spread
# small; the slope argument below holds for any L.
SWEEP_L = 3
SWEEP_WIDTHS = (64, 128, 256, 512, 1024, 2048, 4096)
SWEEP_SEEDS = {64: 8, 128: 8, 256: 8, 512: 8, 1024: 8, 2048: 4, 4096: 2}
SLOPE_TOLERANCE = 0.1
# The slopes follow from the exponents (§B1): with a_0 + b_0 = 0 the input layer's output is Θ(1), and a
# layer of fan-in m multiplies the variance by m^{1 − 2(a_l + b_l)} (a sum of m terms, each scaled by
# m^{−(a_l + b_l)}; relu keeps the ratio of second moments exact). NTK: a + b = ½ on every layer after the
# input → slope 0; μP: ½ on the intermediate layers, 1 on the output → −1; IP: 1 on all L → −L. §B2's
# init-plot table says the same (Θ(1), Θ(m^{−1}), Θ(m^{−L})).
EXPECTED_SLOPES = {"ntk": 0.0, "mup": -1.0, "ip": -float(SWEEP_L)}


@pytest.mark.parametrize("name", sorted(EXPECTED_SLOPES))
def test_output_variance_at_init_scales_with_width_as_the_exponents_say(name):
    """The log-log slope of the output variance at init against width (64 … 4096) is 0 for NTK, −1 for
    μP and −L for IP, within ±0.1.

    Output variance at width m: the mean of f² over inputs, outputs and seeds (the init draws are
    centered, so it is the variance over the init). The slope is a least-squares fit of log2 variance
    on log2 m. Tolerance: eleven independent sets of seeds with this schedule (TensorFlow) gave NTK
    slopes of mean −0.002 and standard deviation 0.025, extremes −0.043 and +0.046; the seeds used here
    give −0.016 (TensorFlow) and +0.038 (JAX). μP's and IP's slopes are NTK's minus exactly 1 and L (one
    seed draws the same U for all three, and relu is homogeneous), so they share that spread. ±0.1 is
    four standard deviations, while a wrong exponent moves the slope by a multiple of 1.
    """
    x = np.random.default_rng(0).normal(size=(128, 32)).astype("float32")
    log_variances = []
    for width in SWEEP_WIDTHS:
        second_moments = []
        for seed in range(SWEEP_SEEDS[width]):
            model = build(name, width=width, n_layers=SWEEP_L + 1, input_dim=32, classes=256, seed=seed)
            f = keras.ops.convert_to_numpy(model(x)).astype(np.float64)
            second_moments.append(np.mean(f ** 2))
        log_variances.append(np.log2(np.mean(second_moments)))
    slope = np.polyfit(np.log2(SWEEP_WIDTHS), log_variances, 1)[0]
    assert slope == pytest.approx(EXPECTED_SLOPES[name], abs=SLOPE_TOLERANCE), (slope, log_variances)


@pytest.mark.parametrize("activation, params, attribute, value", [
    ("elu", {"alpha": 0.5}, "alpha", 0.5), ("elu", {}, "alpha", 1.0),
    ("leaky_relu", {"negative_slope": 0.2}, "negative_slope", 0.2), ("leaky_relu", {}, "negative_slope", 0.01)])
def test_the_files_activation_params_reach_every_activation_layer(activation, params, attribute, value):
    model = MODELS.build("abc_mlp", (8,), 3, parameterization="mup", width=16, n_layers=3, activation=activation,
                         activation_params=params)
    layers = [layer for layer in model.layers if layer.name.startswith("act_")]
    assert len(layers) == 2 and all(layer.get_config()[attribute] == pytest.approx(value) for layer in layers)
