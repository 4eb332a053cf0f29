"""Device selection and data-parallel training on one host (DESIGN.md, principle 7); several hosts
join one run in lib.distribution.hosts, which makes its DataParallel here.

`--num_gpus 0` hides GPUs before the backend starts, 1 keeps the default device, N > 1 trains
data-parallel over N GPUs; `-d a:b` names the GPUs a..b. TensorFlow: MirroredStrategy (build
and compile inside `scope(strategy)`). JAX: `keras.distribution.DataParallel`, set globally
for the process (the JAX trainer shards every batch and every step by it). Tests stand in
logical CPU devices for GPUs (`split_cpu` before the backend starts, then `cpu_replicas`).
"""

import contextlib
import os

from lib.errors import UsageError


def hide_gpus() -> None:
    """Must run before the backend initialises its devices (i.e. before keras is imported)."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _gpu_count() -> int:
    if _backend() == "jax":
        import jax

        return len([d for d in jax.devices() if d.platform == "gpu"])
    import tensorflow as tf

    return len(tf.config.list_logical_devices("GPU"))


def strategy_for_gpus(num_gpus: int):
    """None (default device) for 0 or 1; data parallelism over GPUs 0..N-1 otherwise."""
    if num_gpus <= 1:
        return None
    found = _gpu_count()
    if found < num_gpus:
        raise UsageError(f"--num_gpus {num_gpus}: only {found} GPU(s) visible; pass --num_gpus {found} or fewer")
    return _over_gpus(list(range(num_gpus)))


def strategy_for_gpu_ids(gpu_ids: list[int]):
    """None (the default device) for `-d 0`; otherwise data parallelism over those GPUs (`-d 2:3`)."""
    if gpu_ids == [0]:
        return None
    found = _gpu_count()
    missing = [i for i in gpu_ids if i >= found]
    if missing:
        raise UsageError(f"-d names GPU {missing[0]} but only {found} GPU(s) are visible; pass -d 0 for the default device")
    return _over_gpus(gpu_ids)


def _over_gpus(gpu_ids: list[int]):
    if _backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return data_parallel([gpus[i] for i in gpu_ids])
    return mirrored([f"/gpu:{i}" for i in gpu_ids])


def mirrored(devices: list[str]):
    """TensorFlow: MirroredStrategy over named devices (also logical CPU devices, as the tests use)."""
    import tensorflow as tf

    return tf.distribute.MirroredStrategy(devices=devices)


class DataParallel:
    """JAX: keras.distribution.DataParallel, made the process-wide distribution when created.

    auto_shard_dataset=False: each process of a run over several hosts feeds its own slice of every
    global batch (Keras' auto-sharding needs a tf.data.Dataset)."""

    def __init__(self, devices, *, auto_shard_dataset: bool = True):
        import keras

        self.distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=auto_shard_dataset)
        keras.distribution.set_distribution(self.distribution)
        self.num_replicas_in_sync = len(devices)

    def scope(self):
        return contextlib.nullcontext()  # already in force for the whole process


def data_parallel(devices) -> DataParallel:
    return DataParallel(devices)


def scope(strategy):
    """Build and compile models inside this scope so their variables are distributed."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def synchronized_batch_norm(strategy) -> bool:
    """TensorFlow replicas compute BN statistics on their own slice unless synchronized; JAX's
    DataParallel computes them on the whole (sharded) batch by itself."""
    return strategy is not None and not isinstance(strategy, DataParallel)


def split_cpu(count: int) -> None:
    """Expose `count` CPU devices (for testing data parallelism without GPUs); before any device use."""
    if os.environ.get("KERAS_BACKEND") == "jax":
        flag = f"--xla_force_host_platform_device_count={count}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        return
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def cpu_replicas(count: int):
    """Data parallelism over `count` CPU devices made by `split_cpu`."""
    if _backend() == "jax":
        import jax

        return data_parallel(jax.devices("cpu")[:count])
    return mirrored([f"/cpu:{i}" for i in range(count)])
