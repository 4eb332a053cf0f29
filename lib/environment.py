"""Process set-up that must happen before TensorFlow or Keras is imported.

Reads only the flags that change how the backend starts (so far `--num_gpus 0`, which hides
GPUs) and quiets TensorFlow's C++ start-up chatter unless the user asked for it.
"""

import os


def prepare(argv: list[str]) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    if _flag_value(argv, "--num_gpus") == "0":
        from lib.distribute import hide_gpus

        hide_gpus()


def _flag_value(argv: list[str], flag: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None
