"""Low-level ops: the selective scan (mamba-ssm CUDA | fast CPU | sequential reference)."""
