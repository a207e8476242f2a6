#!/usr/bin/env bash
# samatte installer for Linux and macOS: finds a Python 3.11 or 3.12 (the range install/requirements*.txt's
# pins have wheels for: scipy 1.17.1 needs 3.11+, numpy 1.26.4 stops at 3.12) and runs install/install.py.
#   bash install/install.sh [--venv DIR] [--no-sam2] [--no-weights] [--offline DIR] [--model NAME] [--models-dir DIR]
#                           [--force] [--verbose] [--nuke [DIR]] [--blender [--blender-dir DIR] [--blender-copy]]
# (install.py's options, passed on; `bash install/install.sh --help` lists them; README "Installing").
# Set PYTHON=/path/to/python3 to choose the interpreter that creates the venv.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-}"
ok_py() { "$1" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' >/dev/null 2>&1; }
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "not a Python that runs"; }
WHY="samatte's pinned packages (install/requirements*.txt) have wheels for Python 3.11 and 3.12 only (the host-side modules alone run on 3.9+)"
if [ -n "$PY" ] && ! ok_py "$PY"; then
  echo "samatte install: PYTHON=$PY is $(py_version "$PY"), not a Python 3.11 or 3.12: $WHY; set PYTHON to one (or unset it to search the PATH)" >&2
  exit 7
fi
if [ -z "$PY" ]; then
  for cand in python3.11 python3.12 python3; do
    if command -v "$cand" >/dev/null 2>&1 && ok_py "$cand"; then
      PY="$(command -v "$cand")"
      break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "samatte install: no Python 3.11 or 3.12 found on the PATH: $WHY; install one or set PYTHON=/path/to/python3.11" >&2
  exit 7
fi
exec "$PY" "$HERE/install.py" --python "$PY" "$@"
