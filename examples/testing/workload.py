"""The code under test in the testing examples: ordinary code that uses slurm-client.

It is typed against ``SlurmClientProtocol``, so a real ``SlurmClient`` (production), a
``MockSlurmClient`` or a client of a ``FakeSlurmServer`` (tests) can be passed in.
"""

from __future__ import annotations

from slurm_core.testing import SlurmClientProtocol


def train(client: SlurmClientProtocol, *, partition: str = "debug", workdir: str = "") -> int:
    """Submit a small training job, wait for it, and return its id.

    Raises ``JobFailedError`` if the job does not complete.
    """
    builder = client.jobs.submit().name("train").partition(partition).time_limit("10")
    if workdir:
        builder = builder.working_directory(workdir)
    job = builder.command(["/bin/sh", "-c", "echo training; sleep 2"]).execute()
    client.jobs.wait(job.job_id, timeout=600)
    return job.job_id
