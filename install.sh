#!/usr/bin/env bash
# Idempotent set-up: creates .venv and installs the pinned requirements.
#   ./install.sh          CPU TensorFlow (default)
#   ./install.sh --gpu    GPU TensorFlow build instead of tensorflow-cpu
#   ./install.sh --jax    also the CPU JAX backend (requirements-jax.txt); combines with --gpu
# A second run with nothing to do only compares a stamp and exits.
set -euo pipefail
cd "$(dirname "$0")"

variant=cpu
jax=no
for arg in "$@"; do
  case "$arg" in
    --gpu) variant=gpu ;;
    --jax) jax=yes ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option '$arg' (valid: --gpu, --jax)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null 2>&1 || python=python3
if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "install.sh: Python 3.11 is required (found $("$python" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

requirements=requirements.txt
if [ "$variant" = gpu ]; then
  requirements=.venv/requirements-gpu.txt
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
if [ "$variant" = gpu ]; then
  sed 's/^tensorflow-cpu==/tensorflow[and-cuda]==/' requirements.txt > "$requirements"
fi

extra=()
if [ "$jax" = yes ]; then
  extra=(-r requirements-jax.txt)
  variant=$variant-jax
fi
stamp=.venv/.installed-$variant
want="$(cat "$requirements" $([ "$jax" = yes ] && echo requirements-jax.txt) | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install.sh: .venv is up to date ($variant)."
  exit 0
fi

.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${variant%-jax}" = gpu ]; then
  .venv/bin/python -m pip uninstall --quiet --yes tensorflow-cpu 2>/dev/null || true
else
  .venv/bin/python -m pip uninstall --quiet --yes tensorflow 2>/dev/null || true
fi
.venv/bin/python -m pip install --quiet -r "$requirements" "${extra[@]}"
rm -f .venv/.installed-*
echo "$want" > "$stamp"
echo "install.sh: .venv ready ($variant). Activate with: source .venv/bin/activate"
