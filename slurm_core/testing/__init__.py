"""Testing support for code that uses slurm-client, at three levels.

* :class:`MockSlurmClient`: expectations and canned answers, no HTTP at all
  (``mock.expect_job_submit().with_partition("test").return_job(make_job(job_id=7))``).
* :class:`FakeSlurmServer`: an in-memory slurmrestd speaking each REST API version's real
  wire format, with a job state machine on a controllable clock and fault injection; used
  through ``fake.transport()`` (no sockets) or ``fake.serve()`` (real HTTP).
* :mod:`slurm_core.testing.cluster`: real local SLURM clusters (the ``slurm_cluster``
  pytest fixture).

The pytest plugin (:mod:`slurm_core.testing.pytest_plugin`, installed with the package)
provides the ``slurm_mock``, ``slurm_fake``, ``slurm_fake_client`` and ``slurm_cluster``
fixtures. Names are imported on first use, so ``import slurm_core.testing`` stays cheap.

Example::

    from slurm_core.testing import FakeSlurmServer, MockSlurmClient, make_job

    mock = MockSlurmClient()
    mock.expect("jobs.get").with_args(7).returns(make_job(job_id=7, state="COMPLETED"))
    assert mock.jobs.get(7).state.is_success
    mock.verify()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Types for checkers; at run time __getattr__ imports on first use (eager costs ~0.6 s).
if TYPE_CHECKING:
    from .._protocol import SlurmClientProtocol
    from ._expect import ANY, Expectation, Matcher, MockCall, instance_of, matching
    from ._factories import (
        make_accounting_job,
        make_api_error,
        make_job,
        make_node,
        make_partition,
        make_submitted,
    )
    from .fake import FakeNode, FakePartition, FakeSlurmServer, RecordedRequest
    from .mock import JobSubmitExpectation, MockSlurmClient

__all__ = [
    "ANY",
    "Expectation",
    "FakeNode",
    "FakePartition",
    "FakeSlurmServer",
    "JobSubmitExpectation",
    "Matcher",
    "MockCall",
    "MockSlurmClient",
    "RecordedRequest",
    "SlurmClientProtocol",
    "instance_of",
    "make_accounting_job",
    "make_api_error",
    "make_job",
    "make_node",
    "make_partition",
    "make_submitted",
    "matching",
]

_WHERE = {
    "SlurmClientProtocol": "slurm_core._protocol",
    "ANY": "slurm_core.testing._expect",
    "Expectation": "slurm_core.testing._expect",
    "Matcher": "slurm_core.testing._expect",
    "MockCall": "slurm_core.testing._expect",
    "instance_of": "slurm_core.testing._expect",
    "matching": "slurm_core.testing._expect",
    "make_accounting_job": "slurm_core.testing._factories",
    "make_api_error": "slurm_core.testing._factories",
    "make_job": "slurm_core.testing._factories",
    "make_node": "slurm_core.testing._factories",
    "make_partition": "slurm_core.testing._factories",
    "make_submitted": "slurm_core.testing._factories",
    "FakeNode": "slurm_core.testing.fake",
    "FakePartition": "slurm_core.testing.fake",
    "FakeSlurmServer": "slurm_core.testing.fake",
    "RecordedRequest": "slurm_core.testing.fake",
    "JobSubmitExpectation": "slurm_core.testing.mock",
    "MockSlurmClient": "slurm_core.testing.mock",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'slurm_core.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
