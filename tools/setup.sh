#!/usr/bin/env bash
# Installs mmcofnet and its stack: torch, mmcv 2.1.0 (built with its C++ ops), mmengine, mmdet.
#
# Creates .venv in the repository root, or installs into the active virtualenv when one is active.
# Idempotent: a second run only checks what is installed (pip's wheel cache keeps the mmcv build).
# Environment: PYTHON (interpreter for the new venv, default python3), TORCH_VERSION (default
# 2.13.0), MAX_JOBS (parallel compile jobs for mmcv, default: all cores).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
MMCV_VERSION=2.1.0
MMENGINE_VERSION=0.10.7
MMDET_VERSION=3.3.0
STEP="start"

trap 'echo "tools/setup.sh: FAILED at step: ${STEP}" >&2' ERR
step() { STEP="$1"; echo "==> ${STEP}"; }

step "python environment"
if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    PY="${VIRTUAL_ENV}/bin/python"
    echo "using the active virtualenv ${VIRTUAL_ENV}"
else
    if [[ ! -x "${REPO}/.venv/bin/python" ]]; then
        "${PYTHON:-python3}" -m venv "${REPO}/.venv"
    fi
    PY="${REPO}/.venv/bin/python"
fi
PIP=("${PY}" -m pip install --disable-pip-version-check -q)

step "build tools (setuptools>=77,<82: torch needs >=77, mmcv's setup.py needs pkg_resources)"
"${PIP[@]}" "setuptools>=77,<82" wheel ninja

step "torch ${TORCH_VERSION}"
if ! "${PY}" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '${TORCH_VERSION}')" 2>/dev/null; then
    # Pinned: an open range would pull a multi-GB CUDA build on CPU machines.
    "${PIP[@]}" "torch==${TORCH_VERSION}"
fi

step "mmengine ${MMENGINE_VERSION} and runtime requirements"
"${PIP[@]}" "mmengine==${MMENGINE_VERSION}" -r "${REPO}/requirements/runtime.txt"

step "mmcv ${MMCV_VERSION} with C++ ops (first build takes about 10 minutes)"
if ! "${PY}" -c "import mmcv, sys; from mmcv.ops import nms; sys.exit(mmcv.__version__ != '${MMCV_VERSION}')" 2>/dev/null; then
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" --no-build-isolation "mmcv==${MMCV_VERSION}"
fi

step "mmdet ${MMDET_VERSION}"
"${PIP[@]}" "mmdet==${MMDET_VERSION}"

step "mmcofnet (editable), test and export requirements"
"${PIP[@]}" --no-build-isolation -e "${REPO}" -r "${REPO}/requirements/tests.txt" \
    -r "${REPO}/requirements/deploy.txt"

step "import check"
"${PY}" -c "import mmcofnet, mmcv, mmdet, mmengine, torch; from mmcv.ops import nms; \
print(f'mmcofnet {mmcofnet.__version__} | torch {torch.__version__} | mmcv {mmcv.__version__} | mmengine {mmengine.__version__} | mmdet {mmdet.__version__}')"
echo "tools/setup.sh: done (python: ${PY})"
