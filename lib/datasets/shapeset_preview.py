"""A labelled grid of Shapeset-3×2 examples, to check by eye what the generator draws."""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # file output only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

from .shapeset import CLASS_NAMES, ShapesetStream  # noqa: E402


def write_preview(path, count: int = 36, seed: int = 0, columns: int = 6, overwrite: bool = False) -> Path:
    """Draw the first ``count`` examples of the seeded train stream, titled by class, into a PNG.

    Raises FileExistsError if ``path`` exists and ``overwrite`` is False. Returns the path.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    images, labels = ShapesetStream(seed, "train").examples(0, count)
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.9 * columns, 2.0 * rows + 0.4), squeeze=False)
    for ax in axes.flat[count:]:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, labels):
        ax.imshow(image, cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(CLASS_NAMES[label], fontsize=8)
        # No ticks, but keep the frame: near-white backgrounds would vanish into the page.
        ax.set_xticks([])
        ax.set_yticks([])
    figure.suptitle(f"Shapeset-3×2, train stream, seed {seed}: first {count} examples")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
