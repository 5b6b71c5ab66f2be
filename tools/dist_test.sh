#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# NPROC: processes on this machine, one per GPU (NCCL), or CPU processes where CUDA is absent
# (gloo). Several machines: NNODES, NODE_RANK, MASTER_ADDR and PORT, the same on every machine.
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
source "$(dirname "$0")/_python.sh"

PYTHONPATH="$REPO":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$REPO/tools/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
