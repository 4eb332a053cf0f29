"""PyTorch twin of initlab's `wn_wrn` (models/weightnorm_nets.py, reference/weightnorm_abc.md §A3/§A4) and the
eager training step that times it, for bench/weightnorm_overhead.py.

`WeightNormWideResNet` is WRN-(6N+4)-k without BatchNorm, layer for layer initlab's network:
stem 3×3 conv 3→16 (stride 1, no ReLU after it); three stages of N basic blocks of 16k, 32k, 64k channels,
the first block of stages 2 and 3 strided; a block is out = conv2(ReLU(conv1(x))) + shortcut(x), conv1 3×3
with the block's stride, conv2 3×3 stride 1, the shortcut a 1×1 conv (with the stride) where the channels or
the stride change and x itself otherwise, no ReLU after the addition; then global average pooling and a plain
Linear classifier. Every conv has padding (k - 1) / 2 and a bias. With weight norm, every conv (the stem,
both convs of each block, the shortcuts) is wrapped, dim 0 (one g per output channel), the Linear never:
`hook` is `torch.nn.utils.weight_norm`, the reference's (§A4), deprecated in PyTorch 2.x in favour of
`parametrize`, `torch.nn.utils.parametrizations.weight_norm`. Module names follow initlab's layer names
(`stem`, `blocks.stage1_block1.conv1`, `logits`), so `torch_key` maps initlab's weights onto the twin.
Trainable parameters are the same as initlab's: v, g and bias per conv, kernel and bias for the classifier.

Initial values do not affect the step time; convs start orthogonal (`orthogonal`'s v) with zero bias.
"""

import re
import time
import warnings

import torch
from torch import nn

STEM_CHANNELS, STAGE_WIDTHS = 16, (16, 32, 64)  # as models/weightnorm_nets.py's WRN_STEM_CHANNELS, WRN_STAGE_WIDTHS
WEIGHT_NORMS = ("none", "hook", "parametrize")


def conv(in_channels: int, out_channels: int, kernel_size: int, stride: int, weight_norm: str) -> nn.Module:
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=(kernel_size - 1) // 2)
    nn.init.orthogonal_(layer.weight)
    nn.init.zeros_(layer.bias)
    if weight_norm == "hook":
        with warnings.catch_warnings():  # the deprecation notice; the reference uses this one
            warnings.simplefilter("ignore", FutureWarning)
            return nn.utils.weight_norm(layer, dim=0)
    if weight_norm == "parametrize":
        return nn.utils.parametrizations.weight_norm(layer, dim=0)
    return layer


class BasicBlock(nn.Module):
    """out = conv2(ReLU(conv1(x))) + shortcut(x), no ReLU after the sum (§A3 `WRNResBlock` without BN)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, weight_norm: str):
        super().__init__()
        self.conv1 = conv(in_channels, out_channels, 3, stride, weight_norm)
        self.conv2 = conv(out_channels, out_channels, 3, 1, weight_norm)
        self.shortcut = None
        if stride > 1 or in_channels != out_channels:
            self.shortcut = conv(in_channels, out_channels, 1, stride, weight_norm)

    def forward(self, x):
        return self.conv2(torch.relu(self.conv1(x))) + (x if self.shortcut is None else self.shortcut(x))


class WeightNormWideResNet(nn.Module):
    def __init__(self, wrn_n: int = 2, wrn_k: int = 4, num_classes: int = 10, weight_norm: str = "hook"):
        super().__init__()
        if weight_norm not in WEIGHT_NORMS:
            raise ValueError(f"weight_norm must be one of {', '.join(WEIGHT_NORMS)}; got {weight_norm!r}")
        self.stem = conv(3, STEM_CHANNELS, 3, 1, weight_norm)
        blocks, channels = {}, STEM_CHANNELS
        for stage, width in enumerate((wrn_k * w for w in STAGE_WIDTHS), start=1):
            for block in range(1, wrn_n + 1):
                stride = 2 if stage > 1 and block == 1 else 1
                blocks[f"stage{stage}_block{block}"] = BasicBlock(channels, width, stride, weight_norm)
                channels = width
        self.blocks = nn.ModuleDict(blocks)
        self.logits = nn.Linear(channels, num_classes)  # PyTorch's default init, never WN (§A3)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks.values():
            x = block(x)
        return self.logits(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def trainable_parameters(model: nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


# initlab variable -> (PyTorch parameter per weight norm, layout conversion): v and g become weight_v and
# weight_g (hook) or the parametrization's original1 and original0; g's (out,) becomes (out, 1, 1, 1).
TORCH_NAMES = {"v": {"hook": "weight_v", "parametrize": "parametrizations.weight.original1"},
               "g": {"hook": "weight_g", "parametrize": "parametrizations.weight.original0"},
               "kernel": {"none": "weight"}, "bias": {"none": "bias", "hook": "bias", "parametrize": "bias"}}


def torch_key(path: str, weight_norm: str) -> str:
    """initlab's variable path -> the twin's state_dict key: stage2_block1_shortcut/v ->
    blocks.stage2_block1.shortcut.weight_v (hook); logits/kernel -> logits.weight."""
    layer, variable = path.split("/")[-2:]
    block = re.fullmatch(r"(stage\d+_block\d+)_(conv1|conv2|shortcut)", layer)
    if block:
        layer = f"blocks.{block.group(1)}.{block.group(2)}"
    names = TORCH_NAMES[variable]
    return f"{layer}.{names['none' if layer == 'logits' else weight_norm]}"


def to_torch_layout(array, torch_shape):
    """Dense kernel (in, out) -> Linear weight (out, in); conv kernel HWIO -> OIHW; g (out,) -> (out, 1, 1, 1)."""
    tensor = torch.from_numpy(array)
    if tensor.ndim == 4:
        tensor = tensor.permute(3, 2, 0, 1)
    elif tensor.ndim == 2:
        tensor = tensor.T
    return tensor.reshape(torch_shape).contiguous()


def load_initlab_weights(model: nn.Module, weights: dict, weight_norm: str) -> None:
    """Copy initlab's weights ({variable path: array}) into the twin; every twin parameter must get one."""
    parameters = dict(model.named_parameters())
    keys = {torch_key(path, weight_norm): path for path in weights}
    if set(keys) != set(parameters):
        raise ValueError(f"initlab and PyTorch parameters differ: {sorted(set(keys) ^ set(parameters))[:6]}")
    with torch.no_grad():
        for key, path in keys.items():
            parameters[key].copy_(to_torch_layout(weights[path], parameters[key].shape))


def random_batches(count: int, batch: int, image_shape, num_classes: int):
    """`count` random NCHW (inputs, integer labels) batches (the same values as bench's Keras batches
    don't matter for timing)."""
    generator = torch.Generator().manual_seed(0)
    height, width, channels = image_shape
    return [(torch.randn(batch, channels, height, width, generator=generator),
             torch.randint(0, num_classes, (batch,), generator=generator)) for _ in range(count)]


class EagerTrainer:
    """The bench's step in PyTorch: SGD (lr 0.01, no momentum, the study's defaults), cross-entropy on the logits."""

    def __init__(self, model: nn.Module, batches, lr: float):
        self.model, self.batches = model, batches
        self.optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        self.index = 0

    def train(self, updates: int) -> float:
        """`updates` updates cycling through the batches; seconds taken (CPU execution is synchronous)."""
        start = time.perf_counter()
        for _ in range(updates):
            x, labels = self.batches[self.index % len(self.batches)]
            self.index += 1
            loss = nn.functional.cross_entropy(self.model(x), labels)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        loss.item()
        return time.perf_counter() - start
