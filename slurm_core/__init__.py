"""slurm-client: a typed SDK for SLURM's REST API."""

__version__ = "0.1.0"
