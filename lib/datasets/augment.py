"""The ConstNet study's training augmentation (reference/constnet.md §1, Data): reflect-pad
4 pixels on each side, crop a random window of the original size, flip horizontally with
probability 1/2. Images smaller than CIFAR's 32 pixels are padded by the same eighth of their
side (1 pixel for 8x8 digits), since shifting an 8-pixel digit by 4 pixels would destroy it.
NumPy on whole batches, drawn from a generator the caller seeds per batch, so batch i of a
run is the same whenever it is made (a resumed run sees the same images).
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
