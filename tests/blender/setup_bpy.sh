#!/usr/bin/env bash
# Create the two venvs the real-Blender tests run in (Blender as a Python module from PyPI):
#   <repo>/.venv-bpy50  bpy==5.0.1      <repo>/.venv-bpy42  bpy==4.2.x (LTS)
# Each needs Python 3.11 (PYTHON311=/path/to/python3.11 or python3.11 on the PATH) and numpy<2.
# Idempotent: a venv whose bpy already imports is left alone. Tests skip when a venv is absent.
#   bash tests/blender/setup_bpy.sh [50|42 ...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
py="${PYTHON311:-}"
if [ -z "$py" ]; then
  for c in python3.11 "$HOME/.pyenv/versions/3.11.7/bin/python" /usr/bin/python3.11; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      py="$c"; break
    fi
  done
fi
if [ -z "$py" ]; then echo "setup_bpy: no Python 3.11 found (set PYTHON311)" >&2; exit 1; fi
versions=("$@"); [ ${#versions[@]} -eq 0 ] && versions=(50 42)
for v in "${versions[@]}"; do
  case "$v" in
    50) spec="bpy==5.0.1" ;;
    42) spec="bpy==4.2.23" ;;
    *) echo "setup_bpy: unknown version $v (50 or 42)" >&2; exit 2 ;;
  esac
  venv=".venv-bpy$v"
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import bpy' >/dev/null 2>&1; then
    echo "setup_bpy: $venv ready ($spec)"; continue
  fi
  echo "setup_bpy: creating $venv with $spec"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "$spec" "numpy<2"
  "$venv/bin/python" -c 'import bpy; print("setup_bpy:", bpy.app.version_string)'
done
