"""The weightnorm study's networks (models/weightnorm_nets.py, models/weightnorm_init.py) against
reference/weightnorm_abc.md §A3 (architectures), §A4 (v, g, bias per --init) and §A5 (γ per position).

Expected values are written out here from the reference, not computed by the code under test: parameter
counts by hand, γ from the test's own reading of §A5's table, g = √(γ·C_in/C_out) (§A4: "the ratio = C_in / C_out").
"""

import math
import re

import keras
import numpy as np
import pytest

from lib.studies.weightnorm.config import INITS
from models import MODELS
from models.weight_norm import WeightNormConv2D, WeightNormDense
from models.weightnorm_init import V_ENTRY, layer_initializers

MNIST, CIFAR, CLASSES = (28, 28, 1), (32, 32, 3), 10
NETWORKS = ("wn_mlp", "wn_cnn", "wn_resnet", "wn_wrn")
RESIDUAL = ("wn_resnet", "wn_wrn")
# Tiny, but with what the checks need: a stride-1 CNN conv, 2 blocks per stage (so 1/B_k = 1/2 ≠ 1). The ResNet's
# base width 16 gives it the WRN-k1's kernel shapes (16, 32, 64 channels): JAX compiles an initializer once per
# kernel shape (~0.2 s each), so shared shapes keep the file's JAX run short.
SMALL = {
    "wn_mlp": {"hidden_size": 8, "num_layers": 3},
    "wn_cnn": {"hidden_size": 16, "num_layers": 3},
    "wn_resnet": {"hidden_size": 16, "num_blocks": 2},
    "wn_wrn": {"wrn_n": 2, "wrn_k": 1},
}
BLOCK_LAYER = re.compile(r"stage(\d)_block(\d+)_(conv1|conv2|shortcut)")


def build(name, input_shape=CIFAR, **options):
    return MODELS.build(name, input_shape, CLASSES, seed=3, **{**SMALL[name], **options})


def images(input_shape, count=4, seed=0):
    return np.random.default_rng(seed).normal(size=(count, *input_shape)).astype(np.float32)


def numpy(tensor):
    return keras.ops.convert_to_numpy(tensor).astype(np.float64)


def wn_layers(model):
    layers = [layer for layer in model.layers if isinstance(layer, (WeightNormDense, WeightNormConv2D))]
    assert layers, "no weight-normalized layer"
    return layers


def reference_gamma(name: str, network: str, blocks_in_stage: int | None = None, hanin: bool = False) -> float:
    """§A5's table, read from the layer's name: plain layers and the ResNet stem 2, the WRN stem 1, a block's
    first conv 2, its second 1/B_k (Hanin: (0.9^b)²), a shortcut 1."""
    if re.fullmatch(r"(hidden|conv)\d+", name):
        return 2.0
    if name == "stem":
        return 1.0 if network == "wn_wrn" else 2.0
    stage, block, part = BLOCK_LAYER.fullmatch(name).groups()
    if part == "conv2":
        return (0.9 ** int(block)) ** 2 if hanin else 1.0 / blocks_in_stage
    return {"conv1": 2.0, "shortcut": 1.0}[part]


# --- every network builds and gives logits ---------------------------------------------------------

def check_logits(model, input_shape):
    y = numpy(model(images(input_shape)))
    assert y.shape == (4, CLASSES) and np.isfinite(y).all()
    # The classifier is a plain Dense with PyTorch's default init, U(±1/√fan_in) kernel and bias (§A3).
    logits = model.get_layer("logits")
    assert type(logits) is keras.layers.Dense
    kernel, bias = logits.get_weights()
    bound = 1 / math.sqrt(kernel.shape[0])
    assert np.abs(kernel).max() <= bound and np.abs(bias).max() <= bound and np.abs(bias).max() > 0


@pytest.mark.parametrize("input_shape", [MNIST, CIFAR], ids=["mnist", "cifar"])
@pytest.mark.parametrize("name", NETWORKS)
def test_each_network_gives_logits_for_mnist_and_cifar_images(name, input_shape):
    model = build(name, input_shape)
    assert model.name == name
    check_logits(model, input_shape)


@pytest.mark.parametrize("name", NETWORKS)
def test_the_plain_and_batch_norm_variants_give_logits(name):
    # CIFAR only: the variants change layers, not the input side (JAX compiles every op per shape: fewer shapes, faster).
    check_logits(build(name, weight_norm=False, init="orthogonal"), CIFAR)
    if name in RESIDUAL:
        for weight_norm in (True, False):
            model = build(name, weight_norm=weight_norm, init="orthogonal", batch_norm=True)
            assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
            check_logits(model, CIFAR)


# --- parameter counts, by hand from §A3 ------------------------------------------------------------

def test_parameter_counts_follow_the_reference_architectures():
    # MLP on MNIST, 2 hidden layers of 8, WN (v, g, bias per layer):
    #   hidden1 784·8 + 8 + 8 = 6288; hidden2 8·8 + 8 + 8 = 80; logits 8·10 + 10 = 90 -> 6458.
    # Without WN there is no g: 6458 - 8 - 8 = 6442.
    assert MODELS.build("wn_mlp", MNIST, CLASSES, hidden_size=8, num_layers=2, seed=0).count_params() == 6458
    assert MODELS.build("wn_mlp", MNIST, CLASSES, hidden_size=8, num_layers=2, weight_norm=False, init="he",
                        seed=0).count_params() == 6442
    # CNN on CIFAR, 3 convs of 16 channels, WN: conv1 3·3·3·16 + 16 + 16 = 464; conv2 = conv3 = 3·3·16·16 + 16 + 16
    #   = 2336; GAP, logits 16·10 + 10 = 170 -> 464 + 2336 + 2336 + 170 = 5306.
    assert MODELS.build("wn_cnn", CIFAR, CLASSES, hidden_size=16, num_layers=3, seed=0).count_params() == 5306
    # ResNet on CIFAR, hidden_size 16, 1 block per stage, WN (3×3 convs 9·C_in·C_out + 2·C_out, 1×1 C_in·C_out + 2·C_out):
    #   stem 3->16: 432 + 32 = 464
    #   stage1 16->16, stride 1, identity shortcut: conv1 2304 + 32 = 2336, conv2 2336 -> 4672
    #   stage2 16->32: conv1 4608 + 64 = 4672, conv2 9216 + 64 = 9280, shortcut 512 + 64 = 576 -> 14528
    #   stage3 32->64: conv1 18432 + 128 = 18560, conv2 36864 + 128 = 36992, shortcut 2048 + 128 = 2176 -> 57728
    #   logits 64·10 + 10 = 650 -> 464 + 4672 + 14528 + 57728 + 650 = 78042.
    resnet = {"hidden_size": 16, "num_blocks": 1, "seed": 0}
    assert MODELS.build("wn_resnet", CIFAR, CLASSES, **resnet).count_params() == 78042
    # With BN (4 numbers per channel: γ, β, moving mean and variance, 2 of them trainable): stem_bn 16 channels,
    #   blocks bn1 (C_in) + bn2 (C_out): 16 + 16, 16 + 32, 32 + 64; final_bn 64 -> 256 channels = 1024 numbers, 512 trainable.
    with_bn = MODELS.build("wn_resnet", CIFAR, CLASSES, batch_norm=True, **resnet)
    assert with_bn.count_params() == 78042 + 1024
    assert sum(int(np.prod(w.shape)) for w in with_bn.trainable_weights) == 78042 + 512
    # WRN-10-2 on CIFAR (N = 1, k = 2), WN; the stem keeps 16 channels, the stages have 32, 64, 128:
    #   stem 3->16: 432 + 32 = 464
    #   stage1 16->32, stride 1, shortcut conv (the channels change): conv1 4608 + 64 = 4672, conv2 9216 + 64 = 9280,
    #     shortcut 512 + 64 = 576 -> 14528
    #   stage2 32->64: conv1 18432 + 128 = 18560, conv2 36864 + 128 = 36992, shortcut 2048 + 128 = 2176 -> 57728
    #   stage3 64->128: conv1 73728 + 256 = 73984, conv2 147456 + 256 = 147712, shortcut 8192 + 256 = 8448 -> 230144
    #   logits 128·10 + 10 = 1290 -> 464 + 14528 + 57728 + 230144 + 1290 = 304154.
    assert MODELS.build("wn_wrn", CIFAR, CLASSES, wrn_n=1, wrn_k=2, seed=0).count_params() == 304154


# --- g of every WN layer ---------------------------------------------------------------------------

def test_the_proposed_g_of_the_default_mlp_is_the_references_example():
    # §A4: "MLP 784→128 gives g = 3.5; 128→128 gives g = √2".
    model = MODELS.build("wn_mlp", MNIST, CLASSES, hidden_size=128, num_layers=2, init="orthogonal_proposed", seed=0)
    np.testing.assert_allclose(numpy(model.get_layer("hidden1").g), 3.5, rtol=1e-6)
    np.testing.assert_allclose(numpy(model.get_layer("hidden2").g), math.sqrt(2), rtol=1e-6)


@pytest.mark.parametrize("name", NETWORKS)
def test_every_proposed_g_is_the_square_root_of_gamma_times_the_channel_ratio(name):
    model = build(name, init="orthogonal_proposed")
    blocks = SMALL[name].get("num_blocks", SMALL[name].get("wrn_n"))
    for layer in wn_layers(model):
        c_in, c_out = layer.v.shape[-2], layer.v.shape[-1]
        expected = math.sqrt(reference_gamma(layer.name, name, blocks) * c_in / c_out)
        np.testing.assert_allclose(numpy(layer.g), expected, rtol=1e-6, err_msg=layer.name)


def test_resnet_and_wrn_gains_at_named_positions():
    resnet = build("wn_resnet", init="orthogonal_proposed")  # hidden_size 16: stages 16, 32, 64; 2 blocks each
    expected = {
        "stem": math.sqrt(2 * 3 / 16),  # γ = 2, CIFAR's 3 channels -> 16
        "stage2_block1_conv1": 1.0,  # γ = 2, 16 -> 32
        "stage2_block1_conv2": math.sqrt(1 / 2),  # γ = 1/B_k = 1/2, 32 -> 32
        "stage2_block1_shortcut": math.sqrt(16 / 32),  # γ = 1
        "stage3_block2_conv1": math.sqrt(2),  # γ = 2, 64 -> 64
    }
    for layer_name, g in expected.items():
        np.testing.assert_allclose(numpy(resnet.get_layer(layer_name).g), g, rtol=1e-6, err_msg=layer_name)
    # The WRN's stem has γ = 1 (§A5): √(1·1/16) on MNIST's single channel.
    wrn = build("wn_wrn", MNIST, init="orthogonal_proposed")
    np.testing.assert_allclose(numpy(wrn.get_layer("stem").g), 0.25, rtol=1e-6)


def test_hanin_gives_the_second_conv_of_block_b_the_gain_point_nine_to_the_b():
    # §A5: γ = (0.9^b)² with b = 1..B_k within the stage, so a C -> C second conv has g = 0.9^b; the rest unchanged.
    model = build("wn_resnet", num_blocks=3, init="orthogonal_proposed", hanin=True)
    for stage in (1, 2, 3):
        for block in (1, 2, 3):
            g = numpy(model.get_layer(f"stage{stage}_block{block}_conv2").g)
            np.testing.assert_allclose(g, 0.9**block, rtol=1e-6, err_msg=f"stage {stage} block {block}")
    np.testing.assert_allclose(numpy(model.get_layer("stage2_block1_shortcut").g), math.sqrt(16 / 32), rtol=1e-6)
    np.testing.assert_allclose(numpy(model.get_layer("stage3_block3_conv1").g), math.sqrt(2), rtol=1e-6)
    for layer in wn_layers(model):
        np.testing.assert_allclose(numpy(layer.g), math.sqrt(reference_gamma(layer.name, "wn_resnet", 3, hanin=True)
                                                             * layer.v.shape[-2] / layer.v.shape[-1]), rtol=1e-6)


@pytest.mark.parametrize("init", ["he", "orthogonal_datadep"])
@pytest.mark.parametrize("name", NETWORKS)
def test_without_the_proposed_init_g_is_the_norm_of_v_so_the_effective_kernel_is_v(name, init):
    # §A4: PyTorch's default WN init sets g = ‖v_row‖; the data-dependent g comes later, from the first batch.
    for layer in wn_layers(build(name, init=init)):
        v = numpy(layer.v)
        np.testing.assert_allclose(numpy(layer.g), np.linalg.norm(v.reshape(-1, v.shape[-1]), axis=0), rtol=1e-6)
        np.testing.assert_allclose(numpy(layer.effective_kernel()), v, rtol=1e-5, atol=1e-7, err_msg=layer.name)
        np.testing.assert_array_equal(numpy(layer.bias), 0)


@pytest.mark.parametrize("name", NETWORKS)
def test_with_he_a_plain_network_computes_what_the_wn_network_computes(name):
    # Same seed, same v: "he+WN has effective weights equal to the He init" (§A4), and the architectures agree.
    x = images(CIFAR)
    wn, plain = build(name, init="he"), build(name, init="he", weight_norm=False)
    assert not any(isinstance(layer, (WeightNormDense, WeightNormConv2D)) for layer in plain.layers)
    np.testing.assert_allclose(numpy(plain(x)), numpy(wn(x)), rtol=1e-4, atol=1e-5)


def test_each_init_has_a_direction_rule_and_only_the_proposed_one_sets_g():
    assert set(V_ENTRY) == set(INITS)
    assert layer_initializers("he", "plain", (4, 8), seed=1).g is None
    assert layer_initializers("orthogonal_datadep", "shortcut", (1, 1, 4, 8), seed=1).g is None
    g = layer_initializers("he_proposed", "block_second", (3, 3, 8, 8), seed=1, blocks_in_stage=4).g
    np.testing.assert_allclose(numpy(g((8,))), 0.5)  # √(1/4)
    with pytest.raises(ValueError, match="block index"):
        layer_initializers("he_proposed", "block_second", (3, 3, 8, 8), seed=1, blocks_in_stage=4, hanin=True)


# --- shapes, strides, shortcuts --------------------------------------------------------------------

def spatial(model, layer_name):
    return tuple(model.get_layer(layer_name).output.shape[1:3])


@pytest.mark.parametrize("weight_norm", [True, False])
def test_the_cnn_strides_its_first_two_convs(weight_norm):
    model = build("wn_cnn", init="orthogonal_proposed" if weight_norm else "he", weight_norm=weight_norm)
    assert [tuple(model.get_layer(f"conv{i}").strides) for i in (1, 2, 3)] == [(2, 2), (2, 2), (1, 1)]
    # PyTorch's padding 1: 32 -> 16 -> 8 -> 8, and MNIST's 28 -> 14 -> 7 -> 7.
    assert [spatial(model, f"conv{i}") for i in (1, 2, 3)] == [(16, 16), (8, 8), (8, 8)]
    mnist = build("wn_cnn", MNIST, init="orthogonal_proposed" if weight_norm else "he", weight_norm=weight_norm)
    assert [spatial(mnist, f"conv{i}") for i in (1, 2, 3)] == [(14, 14), (7, 7), (7, 7)]
    assert mnist.get_layer("pool").output.shape[1:] == (16,)  # global average pooling, then the classifier


def test_the_resnet_stem_and_stages_and_where_shortcut_convs_are():
    model = build("wn_resnet")
    assert spatial(model, "stem") == (32, 32) and model.get_layer("stem").output.shape[-1] == 16
    assert [spatial(model, f"stage{s}_block2_add") for s in (1, 2, 3)] == [(32, 32), (16, 16), (8, 8)]
    assert [model.get_layer(f"stage{s}_block2_add").output.shape[-1] for s in (1, 2, 3)] == [16, 32, 64]  # ×{1, 2, 4}
    shortcuts = sorted(layer.name for layer in model.layers if layer.name.endswith("_shortcut"))
    assert shortcuts == ["stage2_block1_shortcut", "stage3_block1_shortcut"]  # only where channels / stride change
    assert model.get_layer("stage2_block1_shortcut").kernel_size == (1, 1)


@pytest.mark.parametrize("reduced_memory", [False, True])
def test_the_wrn_stem_stride_and_stage_widths(reduced_memory):
    model = build("wn_wrn", wrn_n=1, wrn_k=2, reduced_memory=reduced_memory)
    side = 16 if reduced_memory else 32  # conv1 "stride 1 (2 if reduced_memory)"
    assert tuple(model.get_layer("stem").strides) == ((2, 2) if reduced_memory else (1, 1))
    assert spatial(model, "stem") == (side, side) and model.get_layer("stem").output.shape[-1] == 16
    assert [spatial(model, f"stage{s}_block1_add") for s in (1, 2, 3)] == [(side, side), (side // 2,) * 2, (side // 4,) * 2]
    assert [model.get_layer(f"stage{s}_block1_add").output.shape[-1] for s in (1, 2, 3)] == [32, 64, 128]  # 16k, 32k, 64k
    # k = 2 widens stage 1 (16 -> 32 channels), so its first block needs a shortcut conv too, at stride 1.
    shortcuts = [layer.name for layer in model.layers if layer.name.endswith("_shortcut")]
    assert shortcuts == ["stage1_block1_shortcut", "stage2_block1_shortcut", "stage3_block1_shortcut"]
    assert tuple(model.get_layer("stage1_block1_shortcut").strides) == (1, 1)


# --- no ReLU after the stem or a residual sum ------------------------------------------------------

def consumers(model, tensor):
    return [layer for layer in model.layers[1:]
            if any(t is tensor for t in (layer.input if isinstance(layer.input, list) else [layer.input]))]


@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("name", RESIDUAL)
def test_nothing_rectifies_the_stem_or_a_block_output(name, batch_norm):
    # §A3: the stem "has no ReLU after it"; a block has "No ReLU after the addition and no final activation".
    model = build(name, batch_norm=batch_norm)
    outputs = [layer for layer in model.layers if layer.name == "stem" or layer.name.endswith("_add")]
    assert len(outputs) == 1 + 3 * (SMALL[name].get("num_blocks") or SMALL[name]["wrn_n"])
    for layer in outputs:
        assert not any(isinstance(c, keras.layers.ReLU) for c in consumers(model, layer.output)), layer.name
    probe = keras.Model(model.input, [layer.output for layer in outputs])
    for layer, values in zip(outputs, probe(images(CIFAR))):
        assert numpy(values).min() < 0, f"{layer.name}'s output has no negative value"
    last_add = outputs[-1].output
    pool_input = model.get_layer("pool").input
    assert pool_input is last_add if not batch_norm or name == "wn_wrn" else \
        consumers(model, last_add) == [model.get_layer("final_bn")]  # the ResNet's optional final BN, then GAP


def test_block_wiring_with_and_without_batch_norm():
    # §A3: without BN, out = conv2(ReLU(conv1(x))) + shortcut(x): conv1 reads the block input itself.
    plain = build("wn_resnet")
    block_input = plain.get_layer("stage1_block2_add").output
    assert plain.get_layer("stage2_block1_conv1_pad").input is block_input
    assert plain.get_layer("stage2_block1_shortcut").input is block_input
    assert plain.get_layer("stage1_block2_conv1").input is plain.get_layer("stage1_block1_add").output
    assert plain.get_layer("stage1_block1_conv2").input is plain.get_layer("stage1_block1_relu2").output
    # With BN: BN1 -> ReLU -> conv1 -> BN2 -> ReLU -> conv2, and the shortcut conv reads BN1(x), before the ReLU;
    # an identity shortcut adds x itself.
    bn = build("wn_resnet", batch_norm=True)
    assert bn.get_layer("stage2_block1_shortcut").input is bn.get_layer("stage2_block1_bn1").output
    assert bn.get_layer("stage2_block1_relu1").input is bn.get_layer("stage2_block1_bn1").output
    assert bn.get_layer("stage2_block1_relu2").input is bn.get_layer("stage2_block1_bn2").output
    add_inputs = bn.get_layer("stage1_block2_add").input
    assert add_inputs[1] is bn.get_layer("stage1_block1_add").output
    # The ResNet's stem and final BN (§A3 "With --batch_norm it is followed by BN", "Optional final BN");
    # the WRN has BN in its blocks only.
    assert bn.get_layer("stem_bn").input is bn.get_layer("stem").output
    assert bn.get_layer("pool").input is bn.get_layer("final_bn").output
    wrn = build("wn_wrn", batch_norm=True)
    names = {layer.name for layer in wrn.layers}
    assert "stem_bn" not in names and "final_bn" not in names and "stage1_block1_bn1" in names
    assert wrn.get_layer("stage1_block1_bn1").input is wrn.get_layer("stem").output


# --- contradictory options -------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "options", "message"), [
    ("wn_mlp", {"weight_norm": False, "init": "orthogonal_proposed"}, "needs weight_norm"),
    ("wn_resnet", {"weight_norm": False, "init": "he_datadep"}, "needs weight_norm"),
    ("wn_mlp", {"batch_norm": True}, "no BatchNorm"),
    ("wn_cnn", {"hanin": True}, "residual blocks"),
    ("wn_wrn", {"hanin": True, "init": "he"}, "proposed init"),
    ("wn_resnet", {"init": "kaiming"}, "valid: he"),
])
def test_contradictory_options_are_refused(name, options, message):
    with pytest.raises(ValueError, match=message):
        build(name, **options)


def test_weight_decay_regularizes_every_trainable_parameter():
    # PyTorch's SGD weight_decay acts on v, g, biases, BN's γ and β and the classifier: L2(wd/2) each.
    model = build("wn_resnet", num_blocks=1, batch_norm=True, weight_decay=0.1)
    assert len(model.losses) == len(model.trainable_weights)
    total = sum(0.05 * np.sum(numpy(w) ** 2) for w in model.trainable_weights)
    assert sum(float(numpy(loss)) for loss in model.losses) == pytest.approx(total, rel=1e-5)
