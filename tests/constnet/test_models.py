"""ConstNet and LeakyNet builders and their inits (reference/constnet.md §2.1-2.6)."""

import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from lib.initializers.channel_patterns import ChannelAverage, ChannelIdentity, NoisyPattern
from lib.initializers.leakynet_codes import GRID, parse_init_string
from models import MODELS
from models.scalar_layers import ScalarBias, ScalarScale

ALPHA = 0.01


def digits(count=32):
    """Real images: scikit-learn's 8×8 grey digits scaled to [0, 1]."""
    return (load_digits().images[:count, :, :, None] / 16).astype(np.float32)


def random_rgb(count=8, size=16, seed=0):
    return np.random.default_rng(seed).normal(size=(count, size, size, 3)).astype(np.float32)


def outputs(model, names, x, training=False):
    probe = keras.Model(model.input, {name: model.get_layer(name).output for name in names})
    return {name: keras.ops.convert_to_numpy(y) for name, y in probe(x, training=training).items()}


def probed_layers(model):
    return [layer.name for layer in model.layers if layer.name != "input"]


def channels_identical(y):
    return all(np.array_equal(y[..., c], y[..., 0]) for c in range(y.shape[-1]))


def sample_variance(w):
    return float(np.mean(np.square(w - w.mean())))


def trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def wrn_parameter_count(depth, k, num_classes, in_channels=3):
    """Trainable parameters of ConstNet with BN, counted from §2.1 by hand."""
    n = (depth - 4) // 3
    widths = [16, 16 * k, 32 * k, 64 * k]
    total = in_channels * 16 * 9  # conv1
    for g in (1, 2, 3):
        for b in range(n):
            c_in, c_out = (widths[g - 1] if b == 0 else widths[g]), widths[g]
            total += 2 * c_in + c_in * c_out * 9  # BN γ, β on the block input + the 3×3 conv
            total += c_in * c_out if c_in != c_out else 0  # 1×1 projection shortcut
    return total + widths[3] * num_classes + num_classes  # fc weight + bias


@pytest.mark.parametrize("num_classes, printed", [(10, 17_115_390), (100, 17_173_080)])
def test_wrn_16_10_parameter_count_is_the_reference_minus_its_36_unused_fixup_scalars(num_classes, printed):
    expected = wrn_parameter_count(16, 10, num_classes)
    assert expected == printed - 36  # 12 blocks × (b0, b1, scale) built but unused on the BN path
    model = MODELS.build("constnet", (32, 32, 3), num_classes)
    assert trainable_count(model) == expected


def expected_constnet_names(n, batchnorm, widths):
    names = ["input", "conv1"]
    for g in (1, 2, 3):
        for b in range(n):
            p = f"group{g}_block{b}"
            names += [f"{p}_bn" if batchnorm else f"{p}_bias0", f"{p}_relu"]
            names += [f"{p}_conv_pad"] if g > 1 and b == 0 else []
            names += [f"{p}_conv"] + ([] if batchnorm else [f"{p}_bias1"]) + [f"{p}_dropout"]
            names += [f"{p}_shortcut"] if b == 0 and widths[g - 1] != widths[g] else []
            names += [] if batchnorm else [f"{p}_scale"]
            names += [f"{p}_out"]
    return names + ["final_relu", "pool", "logits"]


@pytest.mark.parametrize("batchnorm", [True, False])
def test_constnet_layer_names(batchnorm):
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=10, widen_factor=1, batchnorm=batchnorm, droprate=0.1)
    assert model.name == "constnet"
    expected = expected_constnet_names(2, batchnorm, [16, 16, 32, 64])
    assert sorted(layer.name for layer in model.layers) == sorted(expected)
    with_conv1_dropout = MODELS.build("constnet", (16, 16, 3), 10, depth=7, widen_factor=1, droprate=0.1,
                                      dropout_conv1=True)
    assert "conv1_dropout" in [layer.name for layer in with_conv1_dropout.layers]


@pytest.mark.parametrize("batchnorm", [True, False])
@pytest.mark.parametrize("images", ["digits", "rgb"])
def test_constnet_init_makes_every_channel_of_every_layer_identical(images, batchnorm):
    x = digits() if images == "digits" else random_rgb()
    model = MODELS.build("constnet", x.shape[1:], 10, depth=10, widen_factor=2, batchnorm=batchnorm)
    for training in (False, True):  # BN with running and with batch statistics
        ys = outputs(model, probed_layers(model), x, training=training)
        for name, y in ys.items():
            assert channels_identical(y), f"{name} (training={training}) has distinct channels"
        np.testing.assert_array_equal(ys["logits"], 0)
        # Identical channels must not be trivially zero: the signal reaches the pool.
        assert np.abs(ys["group3_block1_out"]).max() > 1e-3 and ys["pool"].std() > 1e-4


def test_constnet_init_values():
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=10, widen_factor=2)
    conv1 = model.get_layer("conv1").get_weights()[0]
    centre = np.zeros((3, 3), bool)
    centre[1, 1] = True
    np.testing.assert_array_equal(conv1[centre], np.float32(1 / 3))  # 1/C_in, not 1/fan_in = 1/27
    np.testing.assert_array_equal(conv1[~centre], 0)
    for name, c_in in [("group1_block0_shortcut", 16), ("group2_block0_shortcut", 32), ("group3_block0_shortcut", 64)]:
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], np.float32(1 / c_in))
    for layer in model.layers:
        if layer.name.endswith("_conv"):
            np.testing.assert_array_equal(layer.get_weights()[0], 0)
    for w in model.get_layer("logits").get_weights():
        np.testing.assert_array_equal(w, 0)
    gamma, beta, *_ = model.get_layer("group2_block1_bn").get_weights()
    np.testing.assert_array_equal(gamma, 1)
    np.testing.assert_array_equal(beta, 0)


def test_varnet_is_fan_out_gaussian_and_breaks_channel_symmetry():
    # widen 4: group2_block0_conv has 9·64·128 = 73,728 draws, so the sample variance has a
    # relative standard error sqrt(2/N) = 0.5%; 10% is ~19 standard errors. The 64·128 = 8,192
    # shortcut draws give 1.6%; 10% is ~6 standard errors.
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=7, widen_factor=4, varnet=True)
    conv = model.get_layer("group2_block0_conv").get_weights()[0]
    assert conv.shape == (3, 3, 64, 128)
    np.testing.assert_allclose(sample_variance(conv), 2 / (9 * 128), rtol=0.1)
    shortcut = model.get_layer("group2_block0_shortcut").get_weights()[0]
    np.testing.assert_allclose(sample_variance(shortcut), 1 / 128, rtol=0.1)
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0], 0)
    ys = outputs(model, ["conv1", "group2_block0_out"], random_rgb())
    assert not channels_identical(ys["conv1"]) and not channels_identical(ys["group2_block0_out"])


@pytest.mark.parametrize("sigma_w", [0.5, 1.0])
def test_varnet_sigma_w_scales_conv1_and_shortcut_variances_as_the_original(sigma_w):
    """BeyondSigProp model.py with --varnet: conv1 N(0, σ_w/(9·16)), 1×1 shortcuts N(0, σ_w/C_out), block
    convs N(0, 2σ_w/(9·C_out)) (§2.3), so -W 0.5 halves all three; built through the study's flags."""
    from lib.cli import study_parser
    from lib.config import from_namespace
    from lib.studies import study
    from lib.studies.constnet.config import ConstnetConfig, resolve
    from lib.studies.constnet.run import build_model

    constnet = study("constnet")
    flags = ["--varnet", "-W", str(sigma_w), "--layers", "7", "--widen-factor", "4", "--batchnorm"]
    config = resolve(from_namespace(ConstnetConfig, study_parser(constnet).parse_args(flags)))
    assert config.sigma_w == sigma_w
    # 32 input channels: conv1 has 9·32·16 = 4,608 draws (relative SE of the sample variance
    # sqrt(2/N) = 2.1%), the group-2 shortcut 64·128 = 8,192 (1.6%), its block conv 73,728 (0.5%);
    # 10% is >= 5 SE, while the other sigma_w would be 50% or 100% off.
    model = build_model(config, (16, 16, 32), 10, steps=1)
    conv1 = model.get_layer("conv1").get_weights()[0]
    shortcut = model.get_layer("group2_block0_shortcut").get_weights()[0]
    block = model.get_layer("group2_block0_conv").get_weights()[0]
    assert (conv1.shape, shortcut.shape, block.shape) == ((3, 3, 32, 16), (1, 1, 64, 128), (3, 3, 64, 128))
    measured = [sample_variance(w) for w in (conv1, shortcut, block)]
    print(f"sigma_w {sigma_w}: conv1 {measured[0]:.6f} (expected {sigma_w / 144:.6f}), shortcut {measured[1]:.6f} "
          f"({sigma_w / 128:.6f}), block {measured[2]:.7f} ({2 * sigma_w / 1152:.7f})")
    np.testing.assert_allclose(measured, [sigma_w / (9 * 16), sigma_w / 128, 2 * sigma_w / (9 * 128)], rtol=0.1)


def test_zero_sigma_w_with_varnet_gives_zero_kernels():
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=7, widen_factor=1, varnet=True, sigma_w=0.0)
    for name in ("conv1", "group2_block0_shortcut", "group2_block0_conv"):
        np.testing.assert_array_equal(model.get_layer(name).get_weights()[0], 0)


@pytest.mark.parametrize("batchnorm", [True, False])
def test_constnet_block_equations(batchnorm):
    """Pre-activation h = ReLU(BN(x)) or ReLU(x + b0); y = x + r, or Conv1×1_s(h) + r when widths change (§2.1)."""
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=10, widen_factor=1, batchnorm=batchnorm, varnet=True)
    if not batchnorm:  # move the scalars off their initial 0, 0, 1 so that each one is seen
        for block, (b0, b1, scale) in [("group1_block1", (0.3, -0.2, 1.5)), ("group2_block0", (-0.1, 0.4, 0.7))]:
            for suffix, value in [("bias0", b0), ("bias1", b1), ("scale", scale)]:
                model.get_layer(f"{block}_{suffix}").set_weights([np.float32(value)])
    names = ["group1_block0_out", "group1_block1_relu", "group1_block1_conv", "group1_block1_out",
             "group2_block0_relu", "group2_block0_conv", "group2_block0_shortcut", "group2_block0_out"]
    ys = outputs(model, names, random_rgb())
    tol = {"rtol": 1e-5, "atol": 1e-5}  # float32 sums of <= 144 O(1) terms
    for block, x in [("group1_block1", ys["group1_block0_out"]), ("group2_block0", ys["group1_block1_out"])]:
        b0, b1, scale = (model.get_layer(f"{block}_{s}").get_weights()[0] for s in ("bias0", "bias1", "scale")) \
            if not batchnorm else (0, 0, 1)
        pre = x / np.sqrt(1 + 1e-5) if batchnorm else x + b0  # BN at init in inference: γ=1, β=0, mean 0, var 1
        np.testing.assert_allclose(ys[f"{block}_relu"], np.maximum(pre, 0), **tol)
        r = scale * (ys[f"{block}_conv"] + b1)
        if block == "group1_block1":
            np.testing.assert_allclose(ys[f"{block}_out"], x + r, **tol)
        else:
            kernel = model.get_layer("group2_block0_shortcut").get_weights()[0][0, 0]
            np.testing.assert_allclose(ys["group2_block0_shortcut"], ys[f"{block}_relu"][:, ::2, ::2] @ kernel, **tol)
            np.testing.assert_allclose(ys[f"{block}_out"], ys["group2_block0_shortcut"] + r, **tol)


def test_sigma_w_without_varnet_adds_noise_to_block_convs_only():
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=7, widen_factor=4, sigma_w=0.5)
    conv = model.get_layer("group2_block0_conv").get_weights()[0]
    np.testing.assert_allclose(sample_variance(conv), 2 * 0.5 / (9 * 128), rtol=0.1)  # same 19-SE margin
    np.testing.assert_array_equal(model.get_layer("group2_block0_shortcut").get_weights()[0], np.float32(1 / 64))


def test_layers_get_distinct_seeds_and_a_seed_reproduces():
    def build(seed, droprate=0.0):
        return MODELS.build("constnet", (16, 16, 3), 10, depth=10, widen_factor=1, varnet=True, seed=seed,
                            droprate=droprate)

    first = build(3)
    a, b = (first.get_layer(f"group1_block{i}_conv").get_weights()[0] for i in (0, 1))
    assert a.shape == b.shape and np.mean(a == b) < 0.01
    again, with_dropout = build(3), build(3, 0.1)
    for layer in first.layers:
        for w, w_again, w_dropout in zip(layer.get_weights(), again.get_layer(layer.name).get_weights(),
                                         with_dropout.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(w, w_again)
            np.testing.assert_array_equal(w, w_dropout)  # dropout seeds are a separate stream
    assert not np.array_equal(build(4).get_layer("conv1").get_weights()[0], first.get_layer("conv1").get_weights()[0])


@pytest.mark.parametrize("name, kwargs", [("constnet", {"batchnorm": True}), ("constnet", {"batchnorm": False}),
                                          ("leakynet", {"init": "k_kk_nn_kk", "noise": 1.0})])
def test_weight_decay_is_coupled_l2_on_every_parameter(name, kwargs):
    wd = 5e-4
    model = MODELS.build(name, (16, 16, 3), 10, depth=10, widen_factor=1, weight_decay=wd, **kwargs)
    rng = np.random.default_rng(0)
    model.set_weights([w + rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    model(random_rgb(2))
    assert len(model.losses) == len(model.trainable_weights)
    expected = wd / 2 * sum(float(np.sum(np.square(keras.ops.convert_to_numpy(w)))) for w in model.trainable_weights)
    total = sum(float(keras.ops.convert_to_numpy(loss)) for loss in model.losses)
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    assert MODELS.build(name, (16, 16, 3), 10, depth=7, widen_factor=1, weight_decay=0.0).losses == []


def test_batch_norm_matches_pytorch_and_runs_once_per_block():
    model = MODELS.build("constnet", (16, 16, 3), 10, depth=7, widen_factor=1)
    bn = model.get_layer("group1_block0_bn")
    assert (bn.epsilon, bn.momentum) == (1e-5, 0.9)
    x = random_rgb()
    conv1 = outputs(model, ["conv1"], x)["conv1"]
    model(x, training=True)
    # One update with PyTorch momentum 0.1: 0.1 × batch mean (twice would give 0.19 ×).
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), 0.1 * conv1.mean(axis=(0, 1, 2)),
                               rtol=1e-5, atol=1e-7)


def test_constnet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="3n \\+ 4"):
        MODELS.build("constnet", (16, 16, 3), 10, depth=8)
    with pytest.raises(ValueError, match="batchnorm or fixup"):
        MODELS.build("constnet", (16, 16, 3), 10, depth=7, batchnorm=False, fixup=False)


def leaky(init, **kwargs):
    return MODELS.build("leakynet", (16, 16, 3), 10, depth=10, widen_factor=1, batchnorm=False, init=init,
                        lrelu=ALPHA, **kwargs)


def test_leakynet_phase_pair_computes_minus_x_and_identity_conv1_cycles_rgb():
    model = leaky("i_ii_ii_ii")
    x = random_rgb()
    ys = outputs(model, ["conv1", "group1_block1_out", "group2_block0_out"], x)
    # conv1 identity 3 -> 16: channel o copies input channel o mod 3.
    np.testing.assert_allclose(ys["conv1"], x[..., np.arange(16) % 3], rtol=1e-6, atol=1e-7)
    # LReLU(-LReLU(z)/α) = -z; float32 rounding of 1/α and α gives ~1e-7 relative error.
    np.testing.assert_allclose(ys["group1_block1_out"], -ys["conv1"], rtol=1e-6, atol=1e-7)
    assert (ys["conv1"] < -0.1).any() and (ys["conv1"] > 0.1).any()  # both branches of LReLU exercised
    # A strided block samples even pixels, as PyTorch's padding 1 does (Keras "same" would take odd ones).
    z = ys["group1_block1_out"][:, ::2, ::2, np.arange(32) % 16]
    np.testing.assert_allclose(ys["group2_block0_out"], np.where(z > 0, z, ALPHA * z), rtol=1e-6, atol=1e-7)


def test_leakynet_averaging_layer_makes_its_output_channels_identical():
    model = leaky("i_ii_1i_ii")
    ys = outputs(model, probed_layers(model), random_rgb())
    assert not channels_identical(ys["group1_block1_out"])
    for name in ["group2_block0_conv", "group2_block0_out", "group2_block1_out", "group3_block1_out", "logits"]:
        assert channels_identical(ys[name]), name
    kernel = leaky("i_i1_ii_ii").get_layer("group1_block1_conv").get_weights()[0]  # odd block: phase -1
    np.testing.assert_allclose(kernel[1, 1], -1 / (ALPHA * 16), rtol=1e-6)
    np.testing.assert_array_equal(kernel[0], 0)


@pytest.mark.parametrize("code, pattern", [("h", None), ("k", "identity"), ("n", "average")])
def test_leakynet_random_codes_have_variance_gain_over_fan_in(code, pattern):
    # group2_block0_conv at widen 4: 9·64·128 draws, relative SE 0.5%; 10% is ~19 SE.
    init = "h_h_" + code + "_h"
    model = MODELS.build("leakynet", (16, 16, 3), 10, depth=7, widen_factor=4, init=init, lrelu=ALPHA)
    kernel = model.get_layer("group2_block0_conv").get_weights()[0]  # block i = 1: phase -1
    gain, fan_in = np.sqrt(2) * (1 + ALPHA), 9 * 64
    if pattern is None:
        np.testing.assert_allclose(sample_variance(kernel), gain / fan_in, rtol=0.1)
        return
    pattern_class = ChannelIdentity if pattern == "identity" else ChannelAverage
    base = keras.ops.convert_to_numpy(pattern_class(-1 / ALPHA)(kernel.shape))
    np.testing.assert_allclose(sample_variance(kernel - 0.99 * base), 0.01 * gain / fan_in, rtol=0.1)


def test_leakynet_batchnorm_only_after_odd_blocks_and_fc_noise():
    model = MODELS.build("leakynet", (16, 16, 3), 10, depth=10, widen_factor=4, noise=1.0)
    bns = sorted(layer.name for layer in model.layers if layer.name.endswith("_bn"))
    assert bns == ["group1_block1_bn", "group2_block1_bn", "group3_block1_bn"]
    assert model.name == "leakynet" and all(f"group{g}_block{b}_out" in [lay.name for lay in model.layers]
                                            for g in (1, 2, 3) for b in (0, 1))
    # 256·10 fc draws: relative SE 2.8%; 15% is ~5 SE.
    np.testing.assert_allclose(sample_variance(model.get_layer("logits").get_weights()[0]), 1 / 144, rtol=0.15)
    np.testing.assert_array_equal(MODELS.build("leakynet", (16, 16, 3), 10, depth=7, widen_factor=1)
                                  .get_layer("logits").get_weights()[0], 0)


def test_parse_init_string():
    assert parse_init_string("1_ii11_ii11_ii11", 16) == list("1ii11ii11ii11")
    assert all(len(parse_init_string(text, 16)) == 13 for text in GRID) and len(GRID) == 7
    with pytest.raises(ValueError, match=r"'1_ii' has 3 layer codes; depth 16 needs 13 \(conv1 \+ 12 blocks, "
                                         r"written x_xxxx_xxxx_xxxx\)"):
        parse_init_string("1_ii", 16)
    with pytest.raises(ValueError, match="has 14 layer codes; depth 16 needs 13"):
        parse_init_string("1_iiii_iiii_iiiii", 16)
    with pytest.raises(ValueError, match="unknown layer code.*x.*valid: 1 .*i .*h .*k .*n "):
        parse_init_string("h_hxhh_hhhh_hhhh", 16)
    with pytest.raises(ValueError, match="has 13 layer codes; depth 7 needs 4"):
        MODELS.build("leakynet", (16, 16, 3), 10, depth=7, init=GRID[0])


@pytest.mark.parametrize("name", ["constnet", "leakynet"])
def test_tiny_entries_build_and_give_logits(name):
    model = MODELS.build(name, (16, 16, 3), 10, tiny=True)
    logits = keras.ops.convert_to_numpy(model(random_rgb(3)))
    assert logits.shape == (3, 10) and np.isfinite(logits).all()


@pytest.mark.parametrize("name, kwargs", [("constnet", {"batchnorm": False}), ("constnet", {"droprate": 0.1}),
                                          ("leakynet", {"init": "1_kn_ih_1i", "lrelu": ALPHA})])
def test_models_save_and_reload(tmp_path, name, kwargs):
    model = MODELS.build(name, (16, 16, 3), 10, depth=10, widen_factor=1, **kwargs)
    rng = np.random.default_rng(1)
    # Perturb every weight: at init ConstNet's logits are 0, which a broken reload could also give.
    model.set_weights([w + 0.1 * rng.normal(size=w.shape).astype(np.float32) for w in model.get_weights()])
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    x = random_rgb(4)
    expected = keras.ops.convert_to_numpy(model(x))
    assert np.abs(expected).max() > 1e-3
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), expected)
    for layer in model.layers:
        assert type(loaded.get_layer(layer.name)) is type(layer)
    if name == "leakynet":
        assert isinstance(loaded.get_layer("conv1").kernel_initializer, ChannelAverage)
        assert isinstance(loaded.get_layer("group1_block0_conv").kernel_initializer, NoisyPattern)
        assert isinstance(loaded.get_layer("group1_block0_bias0"), ScalarBias)
    elif not kwargs.get("batchnorm", True):
        assert isinstance(loaded.get_layer("group2_block1_scale"), ScalarScale)
