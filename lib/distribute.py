"""Device selection and data-parallel training through tf.distribute (DESIGN.md, principle 7).

The only module that touches tf.distribute: `--num_gpus 0` hides GPUs before TensorFlow
starts, 1 keeps the default device, N > 1 trains under MirroredStrategy over N GPUs; `-d a:b`
names the GPUs a..b.
"""

import contextlib
import os

from lib.errors import UsageError


def hide_gpus() -> None:
    """Must run before TensorFlow initialises its devices (i.e. before keras is imported)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def strategy_for_gpus(num_gpus: int):
    """None (default device) for 0 or 1; a MirroredStrategy over GPUs 0..N-1 otherwise."""
    if num_gpus <= 1:
        return None
    import tensorflow as tf

    found = len(tf.config.list_logical_devices("GPU"))
    if found < num_gpus:
        raise UsageError(f"--num_gpus {num_gpus}: only {found} GPU(s) visible; pass --num_gpus {found} or fewer")
    return mirrored([f"/gpu:{i}" for i in range(num_gpus)])


def strategy_for_gpu_ids(gpu_ids: list[int]):
    """None (the default device) for `-d 0`; otherwise a MirroredStrategy over those GPUs (`-d 2:3`)."""
    if gpu_ids == [0]:
        return None
    import tensorflow as tf

    found = len(tf.config.list_logical_devices("GPU"))
    missing = [i for i in gpu_ids if i >= found]
    if missing:
        raise UsageError(f"-d names GPU {missing[0]} but only {found} GPU(s) are visible; pass -d 0 for the default device")
    return mirrored([f"/gpu:{i}" for i in gpu_ids])


def mirrored(devices: list[str]):
    """MirroredStrategy over named devices (also logical CPU devices, as the tests use)."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=devices)


def scope(strategy):
    """Build and compile models inside this scope so their variables are mirrored."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def split_cpu(count: int) -> None:
    """Expose `count` logical CPU devices (for testing MirroredStrategy without GPUs)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
