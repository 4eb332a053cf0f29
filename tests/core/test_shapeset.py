"""Shapeset-3×2 generator: determinism, pixel values, labels and class prior (reference/glorot.md §3)."""

import numpy as np
import pytest

from lib.datasets.shapeset import CLASS_NAMES, CLASS_PRIOR, ChunkCanvas, ShapesetParams, ShapesetStream, labels_from_shape_ids, stream_id
from lib.datasets.shapeset_geometry import ChunkGeometry, area_ratio, overlap_too_large, sample_chunk
from lib.datasets.shapeset_preview import write_preview

SAMPLE_SIZE = 20_000
SINGLE_SHAPE_CLASSES = (0, 1, 2)


@pytest.fixture(scope="module")
def sample():
    """The first 20,000 examples of the seed-0 train stream, read in one call."""
    return ShapesetStream(0, "train").examples(0, SAMPLE_SIZE)


def background(images):
    """Background level of each image: the corner pixel, which the 1-px margin keeps free."""
    return images[:, 0, 0]


def test_same_seed_and_positions_give_identical_examples():
    first = ShapesetStream(3, "train").examples(1700, 700)
    second = ShapesetStream(3, "train").examples(1700, 700)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_different_seeds_differ():
    images_a, labels_a = ShapesetStream(0, "train").examples(0, 200)
    images_b, labels_b = ShapesetStream(1, "train").examples(0, 200)
    assert not np.array_equal(labels_a, labels_b)
    assert (images_a != images_b).any(axis=(1, 2)).all()


def test_train_and_test_streams_differ():
    assert stream_id("train") != stream_id("test")
    images_train, _ = ShapesetStream(0, "train").examples(0, 200)
    images_test, _ = ShapesetStream(0, "test").examples(0, 200)
    assert (images_train != images_test).any(axis=(1, 2)).all()


def test_stream_id_is_stable_across_processes():
    # CRC-32 of the UTF-8 name; Python's hash() of a str would change with PYTHONHASHSEED.
    assert stream_id("train") == 0x5C66E4A3
    assert stream_id("test") == 0xD87F7E0C


@pytest.mark.parametrize("start, count", [(0, 1), (999, 2), (1000, 1000), (1500, 1200), (2999, 501), (0, 3500)])
def test_a_read_equals_the_slice_of_a_longer_read(start, count):
    whole_images, whole_labels = ShapesetStream(5, "train").examples(0, 3500)
    images, labels = ShapesetStream(5, "train").examples(start, count)
    np.testing.assert_array_equal(images, whole_images[start:start + count])
    np.testing.assert_array_equal(labels, whole_labels[start:start + count])


def test_read_order_and_cache_do_not_change_examples():
    stream = ShapesetStream(5, "train", chunk_size=7)
    whole_images, whole_labels = stream.examples(0, 40)
    # Backwards, in odd pieces, straddling the 7-example chunks and evicting the cache.
    for start, count in [(33, 7), (20, 13), (6, 2), (0, 1), (13, 15)]:
        images, labels = stream.examples(start, count)
        np.testing.assert_array_equal(images, whole_images[start:start + count])
        np.testing.assert_array_equal(labels, whole_labels[start:start + count])


def test_images_have_the_documented_shape_dtype_and_range(sample):
    images, labels = sample
    assert images.shape == (SAMPLE_SIZE, 32, 32) and images.dtype == np.float32
    assert labels.shape == (SAMPLE_SIZE,) and np.issubdtype(labels.dtype, np.integer)
    assert images.min() >= -1.0 and images.max() <= 1.0
    assert set(np.unique(labels)) == set(range(len(CLASS_NAMES)))
    # Grey levels are 2v/255 - 1 for integer v.
    levels = (images[:2000] + 1) * 255 / 2
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)


def test_grey_levels_match_the_polygons_in_the_label(sample):
    images, labels = sample
    for image, label in zip(images[:3000], labels[:3000]):
        levels = np.unique(image)
        # One background level plus one level per polygon (two polygons may share one).
        if label in SINGLE_SHAPE_CLASSES:
            assert len(levels) == 2
        else:
            assert len(levels) in (2, 3)
        # Shapes and background come from the two disjoint grey ranges [0, 114] and
        # [140, 255], i.e. opposite sides of 0 after the [-1, 1] mapping.
        shapes = image[image != image[0, 0]]
        assert (np.sign(shapes) != np.sign(image[0, 0])).all()


def test_polygons_keep_a_one_pixel_margin(sample):
    images, _ = sample
    bg = background(images)[:, None]
    for border in (images[:, 0, :], images[:, -1, :], images[:, :, 0], images[:, :, -1]):
        np.testing.assert_array_equal(border, np.broadcast_to(bg, border.shape))


def test_polygon_pixel_counts_are_plausible(sample):
    images, labels = sample
    covered = (images != background(images)[:, None, None]).sum(axis=(1, 2))
    assert covered.min() > 0
    # A single shape's area is s0·s1·(unit-polygon area), s0, s1 ~ U[0.2, 0.8]·32 px: at least
    # the smallest triangle's (13 px), at most the largest ellipse's (506 px) plus its edge.
    single = np.isin(labels, SINGLE_SHAPE_CLASSES)
    assert covered[single].min() >= 13 and covered[single].max() <= 600
    # Mean area is E[s0·s1] = 16² px times the unit area; filled edge pixels add 0-30 %.
    unit_areas = [3 * np.sqrt(3) / 16, 0.5, 0.25 * np.pi * area_ratio(20)]
    means = [covered[labels == c].mean() for c in SINGLE_SHAPE_CLASSES]
    assert means[0] < means[1] < means[2]
    for mean, unit_area in zip(means, unit_areas):
        assert 1.0 <= mean / (256 * unit_area) <= 1.3


def test_class_frequencies_follow_the_prior(sample):
    _, labels = sample
    frequencies = np.bincount(labels, minlength=9) / len(labels)
    np.testing.assert_allclose(CLASS_PRIOR, [1 / 6] * 3 + [1 / 9] * 3 + [1 / 18] * 3)
    assert sum(CLASS_PRIOR) == pytest.approx(1.0)
    np.testing.assert_allclose(frequencies, CLASS_PRIOR, atol=0.01)


def test_labels_follow_the_reference_class_mapping():
    shape_ids = np.array([[0, -1], [1, -1], [2, -1], [0, 1], [1, 0], [1, 2], [2, 1],
                          [0, 2], [2, 0], [0, 0], [1, 1], [2, 2]])
    np.testing.assert_array_equal(labels_from_shape_ids(shape_ids), [0, 1, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8])


def test_shapes_are_general_triangles_and_parallelograms():
    # poly_type 2: pre-rotation, anisotropic scale and compensation make affine images of
    # the regular shapes, not just isosceles triangles and rectangles (poly_type 1).
    geometry = sample_chunk(np.random.default_rng(0), 2000, ShapesetParams())
    quads = geometry.vertices[geometry.shape_ids[:, 0] == 1, 0, :, :4]  # (M, 2, 4)
    np.testing.assert_allclose(quads[:, :, 1] - quads[:, :, 0], quads[:, :, 2] - quads[:, :, 3], atol=1e-9)
    side_a, side_b = quads[:, :, 1] - quads[:, :, 0], quads[:, :, 3] - quads[:, :, 0]
    cosine = (side_a * side_b).sum(axis=1) / np.linalg.norm(side_a, axis=1) / np.linalg.norm(side_b, axis=1)
    assert (np.abs(cosine) > 0.1).mean() > 0.5
    triangles = geometry.vertices[geometry.shape_ids[:, 0] == 0, 0, :, :3]
    sides = np.sort(np.stack([np.linalg.norm(triangles[:, :, i] - triangles[:, :, (i + 1) % 3], axis=1)
                              for i in range(3)], axis=1), axis=1)
    isosceles = np.isclose(sides[:, 0], sides[:, 1], rtol=0.03) | np.isclose(sides[:, 1], sides[:, 2], rtol=0.03)
    assert isosceles.mean() < 0.6


def test_overlap_heuristic():
    square = np.array([[-1.0, 1.0, 1.0, -1.0], [-1.0, -1.0, 1.0, 1.0]])  # (2, V) around the origin
    centres_old = np.zeros((3, 2))
    centres_new = np.array([[5.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    old = (square + centres_old[:, :, None], centres_old, np.full(3, 4.0))
    new = (square + centres_new[:, :, None], centres_new, np.full(3, 4.0))
    # Apart: projections do not meet. Coincident: full overlap. One unit apart: reach 2 past
    # d = 1, so the estimate is 1 - 2^-1 = 0.5 of an equal area, not above 0.5.
    np.testing.assert_array_equal(overlap_too_large(old, new, 0.5), [False, True, False])
    np.testing.assert_array_equal(overlap_too_large(old, new, 0.49), [False, True, True])
    # A small polygon over a large one hides little of it.
    small = (0.25 * square + centres_new[:, :, None], centres_new, np.full(3, 0.25))
    np.testing.assert_array_equal(overlap_too_large(old, small, 0.5), [False, False, False])


def test_rejected_polygons_are_left_out_and_the_label_follows_what_is_drawn():
    # With any overlap rejected and a single try, many second polygons are dropped.
    params = ShapesetParams(overlap_max=0.0, rejection_max=1)
    images, labels = ShapesetStream(0, "train", params=params).examples(0, 2000)
    pairs = ~np.isin(labels, SINGLE_SHAPE_CLASSES)
    assert 0.05 < pairs.mean() < 0.4
    levels = np.array([len(np.unique(image)) for image in images])
    assert (levels[~pairs] == 2).all()


def test_canvas_returns_row_major_images_in_their_own_cells():
    # A wide rectangle (x 2-10, y 1-4) in image 5 of 7; every other image stays background.
    rectangle = np.array([[2.0, 10.0, 10.0, 2.0], [1.0, 1.0, 4.0, 4.0]])
    vertices = np.zeros((7, 1, 2, 4))
    vertices[5, 0] = rectangle
    shape_ids = np.full((7, 1), -1)
    shape_ids[5, 0] = 1
    geometry = ChunkGeometry(vertices, shape_ids, np.full((7, 1), 200, np.uint8), np.arange(7, dtype=np.uint8))
    images = ChunkCanvas(7, 32).draw(geometry, (3, 4, 20))
    assert images.shape == (7, 32, 32)
    rows, columns = np.nonzero(images[5] == 200)
    assert (rows.min(), rows.max(), columns.min(), columns.max()) == (1, 4, 2, 10)
    for index in (0, 1, 2, 3, 4, 6):
        assert (images[index] == index).all()


def test_params_reject_unsupported_settings():
    with pytest.raises(ValueError):
        ShapesetParams(max_polygons=3)
    with pytest.raises(ValueError):
        ShapesetParams(fg_min=0.9, fg_max=0.5)
    with pytest.raises(ValueError):
        ShapesetStream(0, chunk_size=0)


def test_preview_is_written_once(tmp_path):
    path = tmp_path / "preview.png"
    write_preview(path, count=4, columns=2)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(FileExistsError):
        write_preview(path, count=4, columns=2)
    write_preview(path, count=4, columns=2, overwrite=True)
