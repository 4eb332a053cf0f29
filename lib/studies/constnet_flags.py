"""Value parsers and tables of the constnet study's flags (no Keras: flags are checked before TensorFlow starts)."""

import argparse

from lib.config import parse_number

ARCHS = ("constnet", "leakynet")
# Image datasets the study trains on, with the loader options it asks for: the ConstNet code's
# per-channel CIFAR normalization; the offline datasets need none.
DATASET_OPTIONS = {
    "cifar10": {"normalization": "cifar_channels"},
    "cifar100": {"normalization": "cifar_channels"},
    "mnist": {},
    "shapeset": {},
    "digits": {},
}
STREAM_EPOCH_EXAMPLES = 50_000  # an epoch of an endless stream (Shapeset): as many examples as CIFAR's


def wrn_depth(text: str) -> int:
    value = parse_number(int, text, "an integer")
    if value < 7 or (value - 4) % 3:
        raise argparse.ArgumentTypeError(f"must be 3n + 4 with n >= 1 blocks per group (7, 10, 16, 28, ...), got '{text}'")
    return value


def probability(text: str) -> float:
    value = parse_number(float, text, "a number in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1), got '{text}'")
    return value


def non_negative_float(text: str) -> float:
    value = parse_number(float, text, "a number >= 0")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got '{text}'")
    return value


def sigma_w_value(text: str) -> float:
    value = parse_number(float, text, "a number >= 0 or -1")
    if not (value == -1 or 0 <= value < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, or -1 for the default, got '{text}'")
    return value


def gpu_ids(text: str) -> list[int]:
    """'0' -> [0]; 'a:b' -> [a, ..., b] (any ids: '10:11' works, unlike the original's one-digit parsing)."""
    first, _, last = text.partition(":")
    return list(range(int(first), int(last or first) + 1))


def gpu_range(text: str) -> str:
    parts = text.split(":")
    if len(parts) > 2 or not all(part.isdigit() for part in parts) or int(parts[0]) > int(parts[-1]):
        raise argparse.ArgumentTypeError(f"must be a GPU id (0) or a range a:b with a <= b (0:1, 2:3, 10:11), got '{text}'")
    return text
