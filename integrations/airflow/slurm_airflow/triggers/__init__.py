"""Triggers of the SLURM provider."""
