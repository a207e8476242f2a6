#!/usr/bin/env bash
# samatte installer for Linux and macOS: finds a Python >= 3.9 and runs install/install.py.
#   bash install/install.sh [--venv DIR] [--no-sam2] [--no-weights] [--offline DIR] [--model NAME] [--blender] [--nuke [DIR]]
# Set PYTHON=/path/to/python3 to choose the interpreter that creates the venv.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-}"
ok_py() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' >/dev/null 2>&1; }
if [ -n "$PY" ] && ! ok_py "$PY"; then
  echo "samatte install: PYTHON=$PY is not a Python 3.9+ that runs; set PYTHON to one (or unset it to search the PATH)" >&2
  exit 7
fi
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3.10 python3.9 python3; do
    if command -v "$cand" >/dev/null 2>&1 && ok_py "$cand"; then
      PY="$(command -v "$cand")"
      break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "samatte install: no Python 3.9+ found; install one or set PYTHON=/path/to/python3" >&2
  exit 7
fi
exec "$PY" "$HERE/install.py" --python "$PY" "$@"
