"""Shapeset-3×2 (Glorot & Bengio 2010, §2.1): an infinite, seeded stream of 32×32 shape images.

Each image holds one or two filled polygons (triangle, parallelogram, ellipse) with random
shape, scale, rotation, position and grey level; the label is which shapes are present, one of
9 classes. This is a Python 3 re-implementation of glorotxa/Shapeset from the description in
reference/glorot.md §3 (genparams of ``simpleexemple.py``, class mapping of ``curridata.py``).
Geometry is sampled in ``shapeset_geometry.py``; this module rasterizes with pygame,
offscreen, and serves examples by stream position.

Images are returned row-major, (N, 32, 32) indexed [y, x]: the original's pygame surfarray
output is indexed [x, y] (transposed), which dense nets do not notice but plots do.
Pixels are 2v/255 - 1 in [-1, 1] (the reference's ``neg=True`` mapping of 8-bit grey v).
"""

import math
import os
import zlib
from collections import OrderedDict

import numpy as np

from .shapeset_geometry import ChunkGeometry, ShapesetParams, sample_chunk

os.environ["PYGAME_HIDE_SUPPORT_PROMPT"] = "1"
# Rasterization only: no window, no display needed (headless machines, CI).
os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
import pygame  # noqa: E402  (must follow the environment set-up above)

__all__ = ["CLASS_NAMES", "CLASS_PRIOR", "ChunkCanvas", "ShapesetParams", "ShapesetStream",
           "labels_from_shape_ids", "stream_id"]

CLASS_NAMES = (
    "triangle", "parallelogram", "ellipse",
    "triangle+parallelogram", "parallelogram+ellipse", "triangle+ellipse",
    "2 triangles", "2 parallelograms", "2 ellipses",
)

# Theoretical class prior ignoring overlap rejections (glorot.md §3.2, Labels): one polygon
# with chance 1/2 and three equally likely types gives 1/6 per single shape; two polygons
# give 2/9 · 1/2 = 1/9 per mixed pair and 1/9 · 1/2 = 1/18 per same-type pair. Rejections
# move a little mass from the pairs to the single shapes.
CLASS_PRIOR = (1 / 6,) * 3 + (1 / 9,) * 3 + (1 / 18,) * 3

# Class of an image with polygons of types (a, b): the reference's 9-class conversion.
_PAIR_CLASS = np.array([[6, 3, 5],
                        [3, 7, 4],
                        [5, 4, 8]])


def labels_from_shape_ids(shape_ids: np.ndarray) -> np.ndarray:
    """Map (N, 1 or 2) polygon types (-1 = absent) to the 9 classes of ``CLASS_NAMES``, as int64."""
    first = shape_ids[:, 0]
    second = shape_ids[:, 1] if shape_ids.shape[1] > 1 else np.full_like(first, -1)
    return np.where(second < 0, first, _PAIR_CLASS[first, np.maximum(second, 0)]).astype(np.int64)


def stream_id(name: str) -> int:
    """Stable integer for a stream name (CRC-32; Python's hash() changes between processes)."""
    return zlib.crc32(name.encode("utf-8"))


class ChunkCanvas:
    """One 8-bit pygame surface holding a chunk's images as a grid of image-sized cells.

    Each image is drawn on its own subsurface (a 32×32 window onto the big surface), so
    drawing a chunk costs one ``pygame.draw.polygon`` call per polygon, coordinates stay
    small, and pygame clips every polygon to its own image.
    """

    def __init__(self, capacity: int, image_size: int):
        self.size = image_size
        self.columns = math.ceil(math.sqrt(capacity))
        self.rows = math.ceil(capacity / self.columns)
        self.surface = pygame.Surface((self.columns * image_size, self.rows * image_size), depth=8)
        self.cells = [self.surface.subsurface(((i % self.columns) * image_size,
                                               (i // self.columns) * image_size, image_size, image_size))
                      for i in range(capacity)]

    def draw(self, geometry: ChunkGeometry, n_vertices: tuple[int, ...]) -> np.ndarray:
        """Rasterize a chunk (glorot.md §3.2 step 6) and return its (N, size, size) uint8 images [y, x]."""
        count, size = len(geometry.bg_grey), self.size
        # pixels2d views the surface as [x, y]; split both axes into (cell, pixel).
        pixels = pygame.surfarray.pixels2d(self.surface).reshape(self.columns, size, self.rows, size)
        backgrounds = np.zeros(self.rows * self.columns, dtype=np.uint8)
        backgrounds[:count] = geometry.bg_grey
        pixels[...] = backgrounds.reshape(self.rows, self.columns).T[:, None, :, None]
        # pygame truncates float coordinates to int; truncating here gives the same pixels
        # and makes the vertex lists cheap to build (small Python ints are shared objects).
        vertices = geometry.vertices.transpose(0, 1, 3, 2).astype(np.intp)  # (N, P, V, 2)
        # Slot by slot, so that within an image later polygons are drawn on top.
        for slot in range(geometry.shape_ids.shape[1]):
            for kind, n in enumerate(n_vertices):
                chosen = np.flatnonzero(geometry.shape_ids[:, slot] == kind)
                for image, colour, polygon in zip(chosen.tolist(), geometry.fg_grey[chosen, slot].tolist(),
                                                  vertices[chosen, slot, :n].tolist()):
                    pygame.draw.polygon(self.cells[image], colour, polygon)
        # Copy out of the surface: it is redrawn for the next chunk.
        return pixels.transpose(2, 0, 3, 1).copy().reshape(-1, size, size)[:count]


class ShapesetStream:
    """Deterministic, random-access Shapeset-3×2 stream.

    The example at a position is a pure function of (seed, stream, position, chunk_size):
    chunk k (positions [k·chunk_size, (k+1)·chunk_size)) is generated from
    ``SeedSequence([seed, stream_id(stream), k])``, so any slice can be read in any order.
    The chunk size is part of the data's identity; keep the default to compare runs.
    Callers use stream "train" (the reference draws its 300 validation examples first,
    then trains from position 300 on) and "test". Not thread-safe (one pygame surface per
    stream): give each thread its own stream.
    """

    _CACHED_CHUNKS = 2  # a read straddling a chunk boundary touches two

    def __init__(self, seed: int, stream: str = "train", chunk_size: int = 1000,
                 params: ShapesetParams = ShapesetParams()):
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        self.seed, self.stream, self.chunk_size, self.params = seed, stream, chunk_size, params
        self._canvas = None
        self._cache = OrderedDict()

    def examples(self, start: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Images float32 (count, size, size) in [-1, 1] and int64 labels (count,) at [start, start+count)."""
        if start < 0 or count < 0:
            raise ValueError(f"start and count must be >= 0, got {start}, {count}")
        size = self.params.image_size
        images = np.empty((count, size, size), dtype=np.float32)
        labels = np.empty(count, dtype=np.int64)
        position = start
        while position < start + count:
            chunk, offset = divmod(position, self.chunk_size)
            chunk_images, chunk_labels = self._chunk(chunk)
            n = min(self.chunk_size - offset, start + count - position)
            # 8-bit grey v -> 2v/255 - 1, in float32 (exact at v = 0 and 255).
            out = images[position - start:position - start + n]
            np.multiply(chunk_images[offset:offset + n], np.float32(2 / 255), out=out, dtype=np.float32)
            out -= 1
            labels[position - start:position - start + n] = chunk_labels[offset:offset + n]
            position += n
        return images, labels

    def _chunk(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images and labels of one chunk, from the cache or freshly generated."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, stream_id(self.stream), index]))
        geometry = sample_chunk(rng, self.chunk_size, self.params)
        if self._canvas is None:
            self._canvas = ChunkCanvas(self.chunk_size, self.params.image_size)
        result = (self._canvas.draw(geometry, self.params.n_vertices),
                  labels_from_shape_ids(geometry.shape_ids))
        self._cache[index] = result
        if len(self._cache) > self._CACHED_CHUNKS:
            self._cache.popitem(last=False)
        return result
