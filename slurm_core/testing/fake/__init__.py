"""A fake slurmrestd: an in-memory cluster speaking each REST API version's real wire format.

Use it through :class:`FakeSlurmServer` (also exported by :mod:`slurm_core.testing`):
in-process with ``fake.transport()``, or over HTTP with ``fake.serve()``.

Example::

    from slurm_core import SlurmClient
    from slurm_core.testing import FakeSlurmServer

    fake = FakeSlurmServer(api_version="v0.0.42")
    with SlurmClient(fake.url, transport=fake.transport()) as client:
        print([n.name for n in client.nodes.list()])    # ['node1', 'node2', 'gpu1', 'gpu2']
"""

from ._fake import FakeSlurmServer, RecordedRequest
from ._state import FakeNode, FakePartition

__all__ = ["FakeNode", "FakePartition", "FakeSlurmServer", "RecordedRequest"]
