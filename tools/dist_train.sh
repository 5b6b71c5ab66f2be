#!/usr/bin/env bash
# Distributed training with torchrun: tools/dist_train.sh CONFIG NPROC [train.py args...]
# NPROC processes, one per GPU, or on CPU (gloo) where CUDA is absent; see tools/_torchrun.sh.
source "$(dirname "$0")/_torchrun.sh"
torchrun_tool "$2" train.py "$1" "${@:3}"
