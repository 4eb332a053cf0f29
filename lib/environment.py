"""Process set-up that must happen before TensorFlow, JAX or Keras is imported.

Reads only the flags that change how the backend starts: `--backend` (sets KERAS_BACKEND),
`--num_gpus 0` (hides GPUs), the diversity study's `--use_gpu` / `--gpu_no` (CPU by default, as
DiversityNN), and on JAX `--cudaNoise` / `--deterministic` / `--cudnn_deterministic` (XLA's
deterministic-ops flag, read when JAX starts its GPU client). `experiment.py resume RUN_DIR`
and `experiment.py hessian RUN_DIR` take them from the run's config.json. Quiets TensorFlow's C++ start-up chatter unless the
user asked for it.
"""

import json
import os

from lib.errors import UsageError

BACKENDS = ("tensorflow", "jax")
DETERMINISTIC_FLAGS = ("--cudaNoise", "--deterministic", "--cudnn_deterministic")  # constnet, diversity, weightnorm
XLA_DETERMINISTIC = "--xla_gpu_deterministic_ops=true"


def prepare(argv: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    saved = _resumed_config(argv)
    backend = _flag_value(argv, "--backend") or saved.get("backend")
    if backend in BACKENDS:  # anything else is reported by the flag parser
        os.environ["KERAS_BACKEND"] = backend
    if _flag_value(argv, "--num_gpus") == "0" or saved.get("num_gpus") == 0:
        from lib.backend.distribute import hide_gpus

        hide_gpus()
    if argv[:1] == ["diversity"] or saved.get("study") == "diversity":
        _diversity_device(argv, saved)
    deterministic = (any(flag in argv for flag in DETERMINISTIC_FLAGS) or saved.get("deterministic")
                     or saved.get("cudnn_deterministic"))
    if deterministic and os.environ.get("KERAS_BACKEND") == "jax":
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_DETERMINISTIC}".strip()


def _diversity_device(argv: list[str], saved: dict) -> None:
    """DiversityNN's device flags: CPU unless --use_gpu, then GPU --gpu_no (the only device the backend sees)."""
    from lib.backend.distribute import hide_gpus

    if "--use_gpu" in argv or saved.get("use_gpu"):
        gpu = _flag_value(argv, "--gpu_no") or str(saved.get("gpu_no", 0))
        if gpu.isdigit():  # anything else is reported by the flag parser
            os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    else:
        hide_gpus()


def active_backend() -> str:
    """The backend Keras will use (or uses): KERAS_BACKEND, else TensorFlow."""
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def check_backend(requested: str) -> None:
    """A study asked for `requested`; Keras must be running (or about to run) that backend."""
    import keras

    if keras.backend.backend() != requested:
        raise UsageError(f"--backend {requested} must be chosen before Keras starts (Keras runs "
                         f"{keras.backend.backend()}): run experiment.py, or set KERAS_BACKEND={requested}")


def _resumed_config(argv: list[str]) -> dict:
    if len(argv) < 2 or argv[0] not in ("resume", "hessian"):
        return {}
    try:
        with open(os.path.join(argv[1], "config.json")) as f:
            config = json.load(f)
    except (OSError, ValueError):
        return {}  # the resume command reports it
    return config if isinstance(config, dict) else {}


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
