#!/usr/bin/env bash
# Create .venv with Python 3.10 and install the pinned stack (requirements.lock) and the project.
# Safe to run again: does nothing when .venv is already up to date with requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python310() {
  local candidate
  for candidate in "${PYTHON310:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 \
                   /usr/local/bin/python3.10 /usr/bin/python3.10; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

stamp=.venv/.installed-lock
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && cmp -s requirements.lock "$stamp"; then
  exit 0
fi

if ! python=$(find_python310); then
  cat >&2 <<'MSG'
setup: Python 3.10 was not found.
  Lava (lava-nc 0.10) runs on Python 3.10 only. Install it, then run this again, e.g.:
    pyenv install 3.10.13            (then: make test)
    apt-get install python3.10 python3.10-venv
  or point PYTHON310 at an interpreter:  PYTHON310=/path/to/python3.10 make test
MSG
  exit 2
fi

echo "setup: creating .venv with $python and installing the pinned stack (about 2 minutes, 6 GB)"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade "pip==24.2"
.venv/bin/python -m pip install --quiet --progress-bar off -r requirements.lock
.venv/bin/python -m pip install --quiet --no-deps -e .
cp requirements.lock "$stamp"
echo "setup: done (.venv)"
