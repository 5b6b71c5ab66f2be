# Sourced by dist_train.sh and dist_test.sh: sets REPO (the repository) and PYTHON, the
# interpreter: $PYTHON if set, else the active virtual environment's, else the repository's .venv
# (tools/setup.sh), else python3 on the PATH.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"
    elif [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"
    else PYTHON=python3
    fi
fi
