"""Shapeset-3×2 generation speed on one CPU core, against the 20,000 images/s target.

Usage: python bench/shapeset_speed.py [--images N]

Reads N (default 50,000) examples of a fresh part of the train stream through
``ShapesetStream.examples``, one chunk per call as a training input pipeline would, then
once more as a single call (which also pays for allocating the whole float32 output).
Always exits 0: this prints a ratio, it does not assert one.
"""

import os

# One core: pin the process and keep numeric libraries from starting thread pools,
# before numpy is imported.
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[variable] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere in the repo

from lib.datasets.shapeset import ShapesetStream  # noqa: E402

TARGET_IMAGES_PER_SECOND = 20_000
CHUNK_SIZE = 1000


def images_per_second(stream: ShapesetStream, start: int, count: int, read_size: int) -> float:
    """Rate of reading [start, start+count) in reads of ``read_size`` examples."""
    began = time.perf_counter()
    for position in range(start, start + count, read_size):
        stream.examples(position, min(read_size, start + count - position))
    return count / (time.perf_counter() - began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000, help="images per measurement (default 50000)")
    args = parser.parse_args()
    count = -(-args.images // CHUNK_SIZE) * CHUNK_SIZE  # whole chunks, all generated afresh

    stream = ShapesetStream(seed=0, stream="train", chunk_size=CHUNK_SIZE)
    stream.examples(0, 3 * CHUNK_SIZE)  # warm-up: imports, pygame surface, allocator
    chunked = images_per_second(stream, 10 * CHUNK_SIZE, count, CHUNK_SIZE)
    single = images_per_second(stream, 10 * CHUNK_SIZE + count, count, count)

    print(f"core {min(os.sched_getaffinity(0))}, {count} fresh images per measurement")
    for name, rate in (("chunk-sized reads", chunked), ("one read", single)):
        print(f"{name:>18}: {rate:9,.0f} images/s = {rate / TARGET_IMAGES_PER_SECOND:.2f} x target "
              f"({TARGET_IMAGES_PER_SECOND:,} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
