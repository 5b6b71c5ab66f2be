# Sourced by dist_train.sh and dist_test.sh. torchrun_tool NPROC TOOL [ARGS...] runs
# tools/TOOL with torchrun, NPROC processes on this machine: one per GPU (NCCL), or CPU processes
# where CUDA is absent (gloo). Several machines: NNODES, NODE_RANK, MASTER_ADDR and PORT, the same
# on every machine. The interpreter: $PYTHON if set, else the active virtual environment's, else
# the repository's .venv (tools/setup.sh), else python3 on the PATH.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
    if [ -n "${VIRTUAL_ENV:-}" ]; then PYTHON="$VIRTUAL_ENV/bin/python"
    elif [ -x "$REPO/.venv/bin/python" ]; then PYTHON="$REPO/.venv/bin/python"
    else PYTHON=python3
    fi
fi

torchrun_tool() {
    local nproc=$1 tool=$2
    PYTHONPATH="$REPO":${PYTHONPATH:-} \
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
        --nproc_per_node="$nproc" "$REPO/tools/$tool" "${@:3}" --launcher pytorch
}
