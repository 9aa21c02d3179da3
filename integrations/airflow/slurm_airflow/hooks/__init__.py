"""Hooks of the SLURM provider."""
