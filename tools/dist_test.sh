#!/usr/bin/env bash
# Distributed testing with torchrun: tools/dist_test.sh CONFIG CHECKPOINT NPROC [test.py args...]
# NPROC processes, one per GPU, or on CPU (gloo) where CUDA is absent; see tools/_torchrun.sh.
source "$(dirname "$0")/_torchrun.sh"
torchrun_tool "$3" test.py "$1" "$2" "${@:4}"
