"""Inside a function job: where to checkpoint, and whether to resume.

A call submitted with ``checkpoint=`` runs under the :class:`~slurm_core.jobs.TrainingJob`
wrapper: Slurm signals the job ``SIGUSR2`` before its time limit, the runner raises
``CheckpointRequested`` (a ``BaseException``) inside the function, and the job requeues
itself and calls the function again, which resumes from what it saved.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["checkpoint_dir", "resuming"]

_DIR_ENV = "SLURM_CLIENT_CHECKPOINT_DIR"


def checkpoint_dir() -> Path:
    """The directory this call's checkpoints go to (the same after a requeue).

    Example::

        def train(steps):
            state = checkpoint_dir() / "state.json"
            done = json.loads(state.read_text()) if resuming() else 0
            for step in range(done, steps):
                ...
                state.write_text(json.dumps(step + 1))
            return steps
    """
    value = os.environ.get(_DIR_ENV)
    if not value:
        raise RuntimeError(
            "checkpoint_dir() is only available in a function submitted with checkpoint=..."
        )
    return Path(value)


def resuming() -> bool:
    """True when a previous run of this call left something in :func:`checkpoint_dir`
    (decided when the job started).

    Example::

        if resuming():
            model.load_state_dict(torch.load(checkpoint_dir() / "last.pt"))
    """
    return os.environ.get("SLURM_CLIENT_RESUME") == "1"
