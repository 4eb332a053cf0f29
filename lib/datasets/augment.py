"""Training augmentation. pad_crop_flip, the ConstNet and weight-norm studies' (reference/constnet.md §1, Data): reflect-pad
4 pixels on each side, crop a random window of the original size, flip horizontally with
probability 1/2. Images smaller than CIFAR's 32 pixels are padded by the same eighth of their
side (1 pixel for 8x8 digits), since shifting an 8-pixel digit by 4 pixels would destroy it.
NumPy on whole batches, drawn from a generator the caller seeds per batch, so batch i of a
run is the same whenever it is made (a resumed run sees the same images). cutout: the weight-norm
study's optional Cutout.
"""

import numpy as np

PAD_FRACTION = 8  # CIFAR: 4 pixels of 32


def pad_crop_flip(images: np.ndarray, rng: np.random.Generator, pad: int | None = None) -> np.ndarray:
    """Augmented copies of `images` (N, H, W, C); `pad` defaults to an eighth of the smaller side."""
    n, height, width = images.shape[:3]
    pad = max(1, min(height, width) // PAD_FRACTION) if pad is None else pad
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    top = rng.integers(0, 2 * pad + 1, size=n)
    left = rng.integers(0, 2 * pad + 1, size=n)
    flip = rng.random(n) < 0.5
    rows = top[:, None] + np.arange(height)
    columns = left[:, None] + np.arange(width)
    columns = np.where(flip[:, None], columns[:, ::-1], columns)
    return padded[np.arange(n)[:, None, None], rows[:, :, None], columns[:, None, :]]


CUTOUT_SIZE = 16  # the weight-norm paper's CIFAR runs: one 16-pixel hole (reference/weightnorm_abc.md §A2)


def cutout(images: np.ndarray, rng: np.random.Generator, size: int = CUTOUT_SIZE) -> np.ndarray:
    """DeVries & Taylor's Cutout, one hole per image: a size×size square centred on a uniformly drawn
    pixel, clipped at the borders (so a hole near an edge is smaller), set to 0 in every channel. On
    normalized images 0 is the channel mean, as the original applies Cutout after normalization."""
    n, height, width = images.shape[:3]
    centre_y, centre_x = rng.integers(0, height, size=n), rng.integers(0, width, size=n)
    rows, columns = np.arange(height), np.arange(width)
    inside_y = (rows[None, :] >= centre_y[:, None] - size // 2) & (rows[None, :] < centre_y[:, None] + size - size // 2)
    inside_x = (columns[None, :] >= centre_x[:, None] - size // 2) & (columns[None, :] < centre_x[:, None] + size - size // 2)
    hole = inside_y[:, :, None] & inside_x[:, None, :]
    return np.where(hole[..., None], np.zeros((), dtype=images.dtype), images)
