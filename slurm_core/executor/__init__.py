"""Python functions as SLURM jobs: ``concurrent.futures`` executors over REST.

Example::

    from slurm_core import SlurmClient, SlurmExecutor

    with SlurmClient.from_env() as client:
        with SlurmExecutor(client, workspace="/shared/runs", partition="debug",
                           time_limit="10:00") as ex:
            print(ex.submit(sum, [1, 2, 3]).result())        # 6, computed by a job
            print(list(ex.map(str.upper, ["a", "b"])))       # ['A', 'B'], one job array

Each call is pickled with cloudpickle (``pip install 'slurm-client[functions]'``) into a
private directory under ``workspace`` that the nodes see at the same path; a small runner
(standard library and cloudpickle only) runs it in the job and writes an HMAC-signed result.
See ``docs/executor.md`` for the set-up and the threat model. Importing this package does
not import cloudpickle.
"""

from ._async import AsyncSlurmExecutor, AsyncSlurmFuture
from ._call import FunctionCall
from ._checkpoint import checkpoint_dir, resuming
from ._errors import (
    ExecutorError,
    MissingResultError,
    RemoteTraceback,
    ResultAuthenticationError,
    VersionMismatchError,
)
from ._sync import SlurmExecutor, SlurmFuture

__all__ = [
    "AsyncSlurmExecutor",
    "AsyncSlurmFuture",
    "ExecutorError",
    "FunctionCall",
    "MissingResultError",
    "RemoteTraceback",
    "ResultAuthenticationError",
    "SlurmExecutor",
    "SlurmFuture",
    "VersionMismatchError",
    "checkpoint_dir",
    "resuming",
]
