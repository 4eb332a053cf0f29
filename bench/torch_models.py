"""PyTorch twins of initlab's benchmarked networks and the eager loop that times them, for
bench/gpu_throughput.py.

`ConstNetWideResNet` is the ConstNet Wide ResNet of reference/constnet.md §2.1 (BeyondSigProp
model.py with `--batchnorm`), layer for layer the network models/wide_resnet.py builds:
conv1 3×3 3→16; three groups of (depth − 4)/3 pre-activation blocks with ONE 3×3 conv each,
widths [16, 16k, 32k, 64k], the first block of groups 2 and 3 strided; final ReLU, global
average pool, linear classifier. Each group runs once (the original runs its blocks twice and
keeps the second result; initlab does not copy that, so neither does this twin). The BN path
leaves out the original's unused Fixup scalars, so both count the same trainable parameters:
17,115,354 for WRN-16-10 on 10 classes.

`GlorotMLP` is models/feedforward.py's network: `hidden_layers` × (Linear + tanh), then a
linear layer whose softmax the cross-entropy loss applies.

Initial values do not affect throughput; the random fan-out init of `--varnet` keeps every
layer's arithmetic non-trivial.
"""

import time

import torch
from torch import nn

GROUP_STRIDES = (1, 2, 2)
BN_EPSILON, BN_MOMENTUM = 1e-5, 0.1  # PyTorch's defaults; initlab sets its BatchNormalization to match


class PreActivationBlock(nn.Module):
    """h = ReLU(BN(x)); y = shortcut + Dropout(Conv3×3(h)), the shortcut being x, or a 1×1
    projection of h where the width or resolution changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, droprate: float):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels, eps=BN_EPSILON, momentum=BN_MOMENTUM)
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.dropout = nn.Dropout(droprate) if droprate > 0 else nn.Identity()
        self.projection = None
        if in_channels != out_channels or stride != 1:
            self.projection = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x):
        h = torch.relu(self.bn(x))
        residual = self.dropout(self.conv(h))
        return (x if self.projection is None else self.projection(h)) + residual


class ConstNetWideResNet(nn.Module):
    def __init__(self, depth: int = 16, widen_factor: int = 10, num_classes: int = 10, droprate: float = 0.0):
        super().__init__()
        if (depth - 4) % 3 != 0 or depth < 7:
            raise ValueError(f"depth must be 3n + 4 with n >= 1 (7, 10, 13, 16, ...); got {depth}")
        blocks_per_group = (depth - 4) // 3
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        blocks = []
        for group, stride in enumerate(GROUP_STRIDES, start=1):
            for index in range(blocks_per_group):
                in_channels = widths[group - 1] if index == 0 else widths[group]
                blocks.append(PreActivationBlock(in_channels, widths[group], stride if index == 0 else 1, droprate))
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(widths[3], num_classes)
        self._fan_out_init()

    def _fan_out_init(self):
        """--varnet's fan-out Gaussians (§2.3); classifier at zero as in both inits."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        nn.init.zeros_(self.classifier.weight)
        nn.init.zeros_(self.classifier.bias)

    def forward(self, x):
        x = torch.relu(self.blocks(self.conv1(x)))  # no BN before the final ReLU (§2.1)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class GlorotMLP(nn.Sequential):
    def __init__(self, input_dim: int = 1024, num_classes: int = 9, hidden_layers: int = 5, units: int = 1000):
        layers, width = [], input_dim
        for _ in range(hidden_layers):
            layers += [nn.Linear(width, units), nn.Tanh()]
            width = units
        super().__init__(*layers, nn.Linear(width, num_classes))


def trainable_parameters(model: nn.Module) -> int:
    """Learned parameters only: BatchNorm running statistics are buffers, not parameters."""
    return sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)


def device_for(choice: str) -> torch.device:
    """auto: the GPU when there is one."""
    return torch.device("cuda" if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()) else "cpu")


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def random_batches(count: int, batch: int, example_shape, num_classes: int, device, memory_format=None):
    """`count` random (inputs, integer labels) batches, placed on `device` once."""
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(batch, *example_shape, generator=generator).to(device, memory_format=memory_format),
             torch.randint(0, num_classes, (batch,), generator=generator).to(device))
            for _ in range(count)]


def images_per_second(model, optimizer, batches, updates: int, *, warmup_updates: int, bf16_autocast: bool) -> float:
    """Eager training (cross-entropy on logits) cycling through `batches`: `updates` timed
    updates after `warmup_updates`, the clock read after the device finished."""
    device = batches[0][0].device
    loss_function = nn.CrossEntropyLoss()

    def train(count: int) -> None:
        for index in range(count):
            x, labels = batches[index % len(batches)]
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16_autocast):
                loss = loss_function(model(x), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    train(warmup_updates)
    start = time.perf_counter()
    train(updates)
    return updates * batches[0][0].shape[0] / (time.perf_counter() - start)


def wrn_throughput(depth: int, widen_factor: int, image_shape, num_classes: int, batch: int, updates: int, *,
                   bf16: bool, device_choice: str, distinct_batches: int, warmup_updates: int) -> dict:
    """Training images/s of the WRN with the constnet study's SGD (lr 0.03, momentum 0.9, weight
    decay 5e-4); bf16: autocast and channels_last, PyTorch's fast path for convolutions."""
    device = device_for(device_choice)
    torch.backends.cudnn.benchmark = True  # autotuned convolutions, as XLA autotunes them for initlab
    memory_format = torch.channels_last if bf16 else torch.contiguous_format
    torch.manual_seed(0)
    model = ConstNetWideResNet(depth, widen_factor, num_classes).to(device, memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03, momentum=0.9, weight_decay=5e-4)
    height, width, channels = image_shape
    batches = random_batches(distinct_batches, batch, (channels, height, width), num_classes, device, memory_format)
    rate = images_per_second(model, optimizer, batches, updates, warmup_updates=warmup_updates, bf16_autocast=bf16)
    return {"device": device_name(device), "params": trainable_parameters(model), "images_per_s": rate}


def mlp_throughput(input_dim: int, num_classes: int, hidden_layers: int, units: int, batch: int, updates: int, *,
                   device_choice: str, distinct_batches: int, warmup_updates: int) -> dict:
    """Training images/s of the MLP with the glorot study's plain SGD (lr 1e-3), fp32."""
    device = device_for(device_choice)
    torch.manual_seed(0)
    model = GlorotMLP(input_dim, num_classes, hidden_layers, units).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    batches = random_batches(distinct_batches, batch, (input_dim,), num_classes, device)
    rate = images_per_second(model, optimizer, batches, updates, warmup_updates=warmup_updates, bf16_autocast=False)
    return {"device": device_name(device), "params": trainable_parameters(model), "images_per_s": rate}
