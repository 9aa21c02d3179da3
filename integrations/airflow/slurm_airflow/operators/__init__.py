"""Operators of the SLURM provider."""
