"""Apache Airflow (3.0+) provider for slurm-client: run and watch SLURM jobs from DAGs.

* :class:`~slurm_airflow.hooks.slurm.SlurmHook` -- a ``slurm`` connection as a client.
* :class:`~slurm_airflow.operators.slurm.SlurmSubmitJobOperator` -- submit a job and
  (deferrably) wait for it.
* :class:`~slurm_airflow.sensors.slurm.SlurmJobSensor` -- wait for a job to reach a state.
* :class:`~slurm_airflow.triggers.slurm.SlurmJobTrigger` -- the trigger both defer to.

Airflow finds the provider through the ``apache_airflow_provider`` entry point
(:func:`slurm_airflow.get_provider_info.get_provider_info`). Names are imported lazily so
that provider discovery does not import Airflow's operator machinery.

Example::

    from slurm_airflow import SlurmSubmitJobOperator

    train = SlurmSubmitJobOperator(
        task_id="train",
        script="#!/bin/bash\\npython train.py",
        partition="gpu",
        gpus=1,
    )
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "SlurmHook",
    "SlurmJobFailedException",
    "SlurmJobSensor",
    "SlurmJobTrigger",
    "SlurmSubmitJobOperator",
]

_EXPORTS = {
    "SlurmHook": "slurm_airflow.hooks.slurm",
    "SlurmJobFailedException": "slurm_airflow.exceptions",
    "SlurmJobSensor": "slurm_airflow.sensors.slurm",
    "SlurmJobTrigger": "slurm_airflow.triggers.slurm",
    "SlurmSubmitJobOperator": "slurm_airflow.operators.slurm",
}

if TYPE_CHECKING:
    from slurm_airflow.exceptions import SlurmJobFailedException
    from slurm_airflow.hooks.slurm import SlurmHook
    from slurm_airflow.operators.slurm import SlurmSubmitJobOperator
    from slurm_airflow.sensors.slurm import SlurmJobSensor
    from slurm_airflow.triggers.slurm import SlurmJobTrigger


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slurm_airflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
