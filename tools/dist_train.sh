#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NPROC [train.py args...]
# NPROC: processes on this machine, one per GPU (NCCL), or CPU processes where CUDA is absent
# (gloo). Several machines: NNODES, NODE_RANK, MASTER_ADDR and PORT, the same on every machine.
CONFIG=$1
NPROC=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
source "$(dirname "$0")/_python.sh"

PYTHONPATH="$REPO":${PYTHONPATH:-} \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$NPROC" --master_port="$PORT" \
    "$REPO/tools/train.py" "$CONFIG" --launcher pytorch "${@:3}"
