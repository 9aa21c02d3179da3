"""Sensors of the SLURM provider."""
