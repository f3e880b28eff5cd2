#!/usr/bin/env bash
# flowgrade on Gradescope: run once, as root, while Gradescope builds the autograder image
# (the only time it has network, used here for the package index alone). Installs Python
# >= 3.11 if the image lacks it, bubblewrap if apt has it, and the pinned grading
# environment from constraints.txt into /autograder/venv (world-readable, so workers can
# drop to an unprivileged uid and still import Python).
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$SOURCE")"
TORCH_INDEX="$(cat "$SOURCE/torch-index.txt" 2>/dev/null || true)"

python_ok() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }

PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null && python_ok "$candidate"; then
    PYTHON="$(command -v "$candidate")"
    break
  fi
done
if [ -z "$PYTHON" ]; then
  apt-get install -y --no-install-recommends python3.11 python3.11-venv
  PYTHON="$(command -v python3.11)"
fi
"$PYTHON" -m venv --help >/dev/null 2>&1 || apt-get install -y --no-install-recommends python3-venv
apt-get install -y --no-install-recommends bubblewrap \
  || echo "note: bubblewrap is not available; grading falls back to the layers the container allows"

umask 022
"$PYTHON" -m venv "$ROOT/venv"
extra=()
if [ -n "$TORCH_INDEX" ]; then extra=(--extra-index-url "$TORCH_INDEX"); fi
"$ROOT/venv/bin/pip" install --quiet --disable-pip-version-check "${extra[@]}" \
  -c "$SOURCE/constraints.txt" -e "$SOURCE"
# Fail the image build now, not at the first submission.
"$ROOT/venv/bin/python" -c "import torch, grader.gradescope.autograder"
chmod 755 "$ROOT/run_autograder" 2>/dev/null || true
chmod -R go-rwx "$SOURCE/solutions" "$SOURCE/grader/hidden"
echo "flowgrade autograder ready: $("$ROOT/venv/bin/python" --version), torch $("$ROOT/venv/bin/python" -c 'import torch; print(torch.__version__)')"
