"""Shapeset-3×2 geometry: generation parameters and vectorised polygon sampling.

A re-implementation (not a port) of the sampling that glorotxa/Shapeset's ``polygongen.py``
performs one image at a time, as described in reference/glorot.md §3.2. Here a whole chunk of
images is sampled at once with numpy so that generation is not bound by per-image Python
loops; only the overlap-rejection re-draws iterate, in a few rounds over the polygons
still rejected. Rasterization lives in ``shapeset.py``.

Coordinates are pixels, x to the right and y down, with the image spanning [0, size].
"""

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


@dataclass(frozen=True)
class ShapesetParams:
    """Shapeset-3×2 genparams of the reference's ``simpleexemple.py`` (glorot.md §3.2).

    Grey levels are fractions of 255; the integer range of a level is
    [int(low·255), int(high·255)], so backgrounds/shapes are drawn from [0, 114] and
    [140, 255], one range each, swapped with probability ``inversion_chance``.
    """

    image_size: int = 32
    # Triangle, parallelogram, and a 20-gon standing in for an ellipse; the order is the
    # shape id used by the labels.
    n_vertices: tuple[int, ...] = (3, 4, 20)
    min_polygons: int = 1
    max_polygons: int = 2
    fg_min: float = 0.55
    fg_max: float = 1.0
    bg_min: float = 0.0
    bg_max: float = 0.45
    inversion_chance: float = 0.5
    # Rotations are multiples of 2π / rotation_resolution, as in the reference.
    rotation_resolution: int = 255
    scale_min: float = 0.2
    scale_max: float = 0.8
    margin_px: float = 1.0
    overlap_max: float = 0.5
    rejection_max: int = 50

    def __post_init__(self):
        # The 9-class labelling (and the overlap test of one new polygon against one
        # earlier polygon) is defined for three shape types and one or two polygons only.
        if len(self.n_vertices) != 3 or min(self.n_vertices) < 3:
            raise ValueError(f"n_vertices must be 3 vertex counts >= 3, got {self.n_vertices}")
        if not 1 <= self.min_polygons <= self.max_polygons <= 2:
            raise ValueError("need 1 <= min_polygons <= max_polygons <= 2, got "
                             f"{self.min_polygons}, {self.max_polygons}")
        for name in ("fg", "bg", "scale"):
            low, high = getattr(self, f"{name}_min"), getattr(self, f"{name}_max")
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name} range must satisfy 0 <= min <= max <= 1, got {low}, {high}")
        if self.scale_max * self.image_size + 2 * self.margin_px > self.image_size:
            raise ValueError("scale_max and margin_px leave no room to place a polygon")
        if not 0.0 <= self.inversion_chance <= 1.0:
            raise ValueError(f"inversion_chance must be in [0, 1], got {self.inversion_chance}")
        if self.rejection_max < 1:
            raise ValueError(f"rejection_max must be >= 1, got {self.rejection_max}")


class ChunkGeometry(NamedTuple):
    """Everything needed to draw and label a chunk of N images with up to P polygons."""

    vertices: np.ndarray    # (N, P, 2, V) float64 x and y rows; shapes with < V vertices repeat the last
    shape_ids: np.ndarray   # (N, P) int; index into n_vertices, -1 where no polygon was drawn
    fg_grey: np.ndarray     # (N, P) uint8 grey level of each polygon
    bg_grey: np.ndarray     # (N,) uint8 background grey level


def grey_range(low: float, high: float) -> tuple[int, int]:
    """Inclusive integer grey range the reference draws from for fractions [low, high]."""
    return int(low * 255), int(high * 255)


def regular_polygon(n: int) -> np.ndarray:
    """(n, 2) vertices of a regular n-gon inscribed in a circle of radius 0.5 with a horizontal base."""
    angles = 2 * np.pi * (np.arange(n) / n + 1 / (2 * n) + 1 / 4)
    return 0.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def area_ratio(n: int) -> float:
    """Area of a regular n-gon relative to its circumscribed circle (the overlap test's area factor)."""
    return n * math.sin(2 * math.pi / n) / (2 * math.pi)


def _rotation(theta: np.ndarray) -> np.ndarray:
    """(..., 2, 2) counter-clockwise rotation matrices acting on column vectors."""
    c, s = np.cos(theta), np.sin(theta)
    return np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)


def _place(rng, base, theta1, theta3, params):
    """Draw scale and translation for M polygons whose rotations are already fixed.

    Implements the poly_type 2 chain of glorot.md §3.2 step 4: pre-rotation θ1, anisotropic
    scale s0 >= s1, the compensating rotation that brings the base back to horizontal
    (θ2 = -atan(s1/s0 · tan θ1), which makes a general triangle/parallelogram/ellipse),
    the global rotation θ3, then a translation keeping the polygon and a margin inside.
    ``base`` holds (M, 2, V) vertex columns. Returns vertices (M, 2, V), centres (M, 2)
    and the scale products s0·s1 (M,), the area factor of the overlap test.
    """
    size = params.image_size
    draws = rng.uniform(params.scale_min, params.scale_max, (len(base), 2)) * size
    s0, s1 = draws.max(axis=1), draws.min(axis=1)
    theta2 = -np.arctan(s1 / s0 * np.tan(theta1))
    stretch = np.zeros((len(base), 2, 2))
    stretch[:, 0, 0], stretch[:, 1, 1] = s0, s1
    points = _rotation(theta2 + theta3) @ stretch @ _rotation(theta1) @ base
    low = params.margin_px - points.min(axis=2)
    high = size - params.margin_px - points.max(axis=2)
    centres = low + rng.random((len(base), 2)) * (high - low)
    return points + centres[:, :, None], centres, s0 * s1


def overlap_too_large(old, new, overlap_max):
    """The reference's overlap heuristic (glorot.md §3.2 step 5), vectorised over M pairs.

    ``old`` and ``new`` are (vertices (M, 2, V), centres, areas). Both polygons are projected
    on the centre-to-centre axis; if the projections reach past the centre distance d, the
    overlap fraction is estimated as 1 - 2^(-(reach - d)/d), scaled by area(new)/area(old).
    """
    (old_pts, old_c, old_area), (new_pts, new_c, new_area) = old, new
    axis = new_c - old_c
    distance = np.sqrt((axis ** 2).sum(axis=1))
    # Coincident centres are the d -> 0 limit of the estimate: full overlap.
    coincident = distance == 0
    unit = (axis / np.where(coincident, 1.0, distance)[:, None])[:, None, :]  # (M, 1, 2)
    reach = ((unit @ (old_pts - old_c[:, :, None])).max(axis=(1, 2))
             + (-unit @ (new_pts - new_c[:, :, None])).max(axis=(1, 2)))
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(coincident, 1.0, -np.expm1(-(reach - distance) * math.log(2) / distance))
    return (reach >= distance) & (new_area * factor / old_area > overlap_max)


def sample_chunk(rng: np.random.Generator, count: int, params: ShapesetParams) -> ChunkGeometry:
    """Sample the polygons, grey levels and backgrounds of ``count`` images (glorot.md §3.2).

    The draws happen in a fixed order, so the result is a pure function of the generator state.
    """
    n_max = params.max_polygons
    bases = [regular_polygon(n) for n in params.n_vertices]
    v_max = max(params.n_vertices)
    # Pad every shape to v_max vertices by repeating its last one: repeated vertices change
    # neither extents nor projections, and the rasterizer draws only the first n.
    base_table = np.stack([np.concatenate([b, np.repeat(b[-1:], v_max - len(b), 0)]).T for b in bases])
    areas_unit = np.array([area_ratio(n) for n in params.n_vertices])

    # 1. Colours: light background and dark shapes, or the reverse, with equal chance.
    light_bg = rng.random(count) < params.inversion_chance
    dark, light = grey_range(params.bg_min, params.bg_max), grey_range(params.fg_min, params.fg_max)
    bg_low, bg_high = np.where(light_bg, light[0], dark[0]), np.where(light_bg, light[1], dark[1])
    fg_low, fg_high = np.where(light_bg, dark[0], light[0]), np.where(light_bg, dark[1], light[1])
    bg_grey = rng.integers(bg_low, bg_high, endpoint=True).astype(np.uint8)
    fg_grey = rng.integers(fg_low[:, None], fg_high[:, None], (count, n_max), endpoint=True).astype(np.uint8)
    # 2.-3. Number of polygons, and the type of each, uniformly.
    n_polygons = rng.integers(params.min_polygons, params.max_polygons, count, endpoint=True)
    shape_ids = rng.integers(0, len(bases), (count, n_max))
    # 4. Rotations are drawn once per polygon and kept through rejections. The pre-rotation
    # stays within ±π/n: the n-gon's symmetry makes other angles redundant, and the base
    # must stay the bottom edge.
    res = params.rotation_resolution
    half_range = np.array([(res - 1) // (2 * n) for n in params.n_vertices])[shape_ids]
    theta1 = 2 * np.pi / res * rng.integers(-half_range, half_range, endpoint=True)
    theta3 = 2 * np.pi / res * rng.integers(0, res - 1, (count, n_max))

    vertices = np.zeros((count, n_max, 2, v_max))
    centres = np.zeros((count, n_max, 2))
    areas = np.zeros((count, n_max))
    drawn = np.zeros((count, n_max), dtype=bool)
    for slot in range(n_max):
        pending = np.flatnonzero(n_polygons > slot)
        attempts, tries = 0, 1
        while len(pending) and attempts < params.rejection_max:
            # 5. Overlap rejection. Each round tries `tries` placements (scale + translation)
            # per pending polygon and keeps the first accepted one: sequential rejection
            # sampling, with few large numpy calls instead of one round per rejection.
            tries = min(tries, params.rejection_max - attempts)
            rows = np.repeat(pending, tries)
            kind = shape_ids[rows, slot]
            pts, ctr, stretch = _place(rng, base_table[kind], theta1[rows, slot], theta3[rows, slot], params)
            area = stretch * areas_unit[kind]
            rejected = np.zeros(len(rows), dtype=bool)
            for earlier in range(slot):
                old = (vertices[rows, earlier], centres[rows, earlier], areas[rows, earlier])
                rejected |= overlap_too_large(old, (pts, ctr, area), params.overlap_max)
            accepted = ~rejected.reshape(len(pending), tries)
            placed = accepted.any(axis=1)
            first = np.flatnonzero(placed) * tries + accepted[placed].argmax(axis=1)
            done = pending[placed]
            vertices[done, slot], centres[done, slot], areas[done, slot] = pts[first], ctr[first], area[first]
            drawn[done, slot] = True
            # After rejection_max rejections the image keeps the polygons it has and the
            # label follows what is drawn. Polygons still pending are the hard-to-place
            # ones, so later rounds try more placements at once.
            pending, attempts, tries = pending[~placed], attempts + tries, 2 * tries
    # The first polygon is never rejected, so the drawn polygons are a prefix of the slots.
    return ChunkGeometry(vertices, np.where(drawn, shape_ids, -1), fg_grey, bg_grey)
