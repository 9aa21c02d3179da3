"""Benchmarks of slurm-client (run on demand, not tests): ``python -m bench``."""
