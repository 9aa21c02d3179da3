"""slurm-client: a typed SDK for SLURM's REST API (slurmrestd).

Example::

    from slurm_core import JobFailedError, SlurmClient

    with SlurmClient.from_env() as client:          # SLURM_REST_URL, SLURM_JWT, ...
        for job in client.jobs.list(states=["RUNNING"]):
            print(job.job_id, job.name, job.state)
        submitted = client.jobs.submit().command(["./train.sh"]).gpus(1).execute()
        try:
            done = client.jobs.wait(submitted.job_id, timeout=3600)
        except JobFailedError as exc:
            print(exc.job_id, exc.state, exc.exit_code)

The top level holds what most programs need: the clients, auth, errors, the job spec and
its builders, watch events, the job graph, client options and the models read first
(``Job``, ``JobState``, ``Node``, ``Partition``...). The rest lives in subpackages:

* ``slurm_core.models``: every versionless model (accounting, QOS, ``INFINITE``...)
* ``slurm_core.jobs``: training presets (``TrainingJob``, ``ModelTrainer``...), the
  dependency grammar (``parse_dependency``...), output readers, units
* ``slurm_core.watch``, ``slurm_core.graph``: the watch loop and graph runs in full
* ``slurm_core.analytics``: start-time estimates, costs, compliance, scaling
* ``slurm_core.auth``, ``slurm_core.config``, ``slurm_core.testing``

Names are imported lazily (``import slurm_core`` stays cheap). Names that used to be here
and moved to a subpackage still resolve until 0.3, with a ``DeprecationWarning`` naming
their new import path.
"""

import importlib as _importlib
import typing as _typing
import warnings as _warnings

from ._version import __version__

# public name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    # clients
    "SlurmClient": "._client",
    "AsyncSlurmClient": "._client",
    # Python functions as jobs
    "SlurmExecutor": ".executor",
    "AsyncSlurmExecutor": ".executor",
    # auth
    "StaticToken": ".auth",
    "TokenFile": ".auth",
    "TokenCommand": ".auth",
    "JWTKeyAuth": ".auth",
    "CallableAuth": ".auth",
    "SlurmAuth": ".auth",
    # options
    "RetryPolicy": "._retry",
    "CircuitBreakerConfig": "._transport",
    "RequestHooks": "._options",
    "RequestInfo": "._options",
    "ResponseInfo": "._options",
    # errors
    "SlurmError": "._exceptions",
    "ConfigurationError": "._exceptions",
    "SlurmConnectionError": "._exceptions",
    "SlurmTimeoutError": "._exceptions",
    "SlurmAPIError": "._exceptions",
    "SlurmErrorEntry": "._exceptions",
    "InvalidRequestError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "PermissionDeniedError": "._exceptions",
    "NotFoundError": "._exceptions",
    "RateLimitError": "._exceptions",
    "ServerError": "._exceptions",
    "ResponseValidationError": "._exceptions",
    "ResponseTooLargeError": "._exceptions",
    "SlurmSecurityWarning": "._exceptions",
    "UnsupportedAPIVersionError": "._exceptions",
    "UnsupportedOperationError": "._exceptions",
    "CircuitOpenError": "._exceptions",
    "JobSpecError": "._exceptions",
    "JobFailedError": "._exceptions",
    "SubmissionUnknownError": ".jobs",
    "WaitTimeoutError": ".watch",
    "GraphError": ".graph",
    # job spec and builders
    "JobSpec": ".jobs",
    "JobBuilder": ".jobs",
    "AsyncJobBuilder": ".jobs",
    "SubmittedJob": ".jobs",
    # watching jobs
    "JobEvent": ".watch",
    "JobEventType": ".watch",
    "WatchOptions": ".watch",
    # dependency graphs
    "JobGraph": ".graph",
    # models read first; the rest are in slurm_core.models
    "Job": ".models",
    "JobState": ".models",
    "JobBaseState": ".models",
    "ExitCode": ".models",
    "Node": ".models",
    "Partition": ".models",
}

# former top-level name -> the public module to import it from (removed in 0.3)
_DEPRECATED: dict[str, str] = {
    # models
    "INFINITE": "slurm_core.models",
    "Reservation": "slurm_core.models",
    "License": "slurm_core.models",
    "Diag": "slurm_core.models",
    "Ping": "slurm_core.models",
    "AccountingJob": "slurm_core.models",
    "AccountingStep": "slurm_core.models",
    "TRES": "slurm_core.models",
    "Account": "slurm_core.models",
    "User": "slurm_core.models",
    "Association": "slurm_core.models",
    "QOS": "slurm_core.models",
    # dependency grammar
    "Dependency": "slurm_core.jobs",
    "DependencyKind": "slurm_core.jobs",
    "DependencyOperator": "slurm_core.jobs",
    "DependencyTerm": "slurm_core.jobs",
    "build_dependency": "slurm_core.jobs",
    "parse_dependency": "slurm_core.jobs",
    # training presets
    "TrainingJob": "slurm_core.jobs",
    "AsyncTrainingJob": "slurm_core.jobs",
    "ModelTrainer": "slurm_core.jobs",
    "AsyncModelTrainer": "slurm_core.jobs",
    "Experiment": "slurm_core.jobs",
    # job output
    "OutputReader": "slurm_core.jobs",
    "SharedFilesystemReader": "slurm_core.jobs",
    "JobOutputError": "slurm_core.jobs",
    # graph runs
    "GraphRun": "slurm_core.graph",
    # analytics
    "AuditLog": "slurm_core.analytics",
    "CallbackScaler": "slurm_core.analytics",
    "ComplianceAuditor": "slurm_core.analytics",
    "CostReport": "slurm_core.analytics",
    "NodeScaler": "slurm_core.analytics",
    "RateCard": "slurm_core.analytics",
    "ResourceOptimizer": "slurm_core.analytics",
    "RestNodeScaler": "slurm_core.analytics",
    "ScalingDecision": "slurm_core.analytics",
    "StartEstimate": "slurm_core.analytics",
    "TimeRange": "slurm_core.analytics",
}

__all__ = [
    "AsyncJobBuilder",
    "AsyncSlurmClient",
    "AsyncSlurmExecutor",
    "AuthenticationError",
    "CallableAuth",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "ConfigurationError",
    "ExitCode",
    "GraphError",
    "InvalidRequestError",
    "JWTKeyAuth",
    "Job",
    "JobBaseState",
    "JobBuilder",
    "JobEvent",
    "JobEventType",
    "JobFailedError",
    "JobGraph",
    "JobSpec",
    "JobSpecError",
    "JobState",
    "Node",
    "NotFoundError",
    "Partition",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestHooks",
    "RequestInfo",
    "ResponseInfo",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "RetryPolicy",
    "ServerError",
    "SlurmAPIError",
    "SlurmAuth",
    "SlurmClient",
    "SlurmConnectionError",
    "SlurmError",
    "SlurmErrorEntry",
    "SlurmExecutor",
    "SlurmSecurityWarning",
    "SlurmTimeoutError",
    "StaticToken",
    "SubmissionUnknownError",
    "SubmittedJob",
    "TokenCommand",
    "TokenFile",
    "UnsupportedAPIVersionError",
    "UnsupportedOperationError",
    "WaitTimeoutError",
    "WatchOptions",
    "__version__",
]

if _typing.TYPE_CHECKING:
    from ._client import AsyncSlurmClient, SlurmClient
    from ._exceptions import (
        AuthenticationError,
        CircuitOpenError,
        ConfigurationError,
        InvalidRequestError,
        JobFailedError,
        JobSpecError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseTooLargeError,
        ResponseValidationError,
        ServerError,
        SlurmAPIError,
        SlurmConnectionError,
        SlurmError,
        SlurmErrorEntry,
        SlurmSecurityWarning,
        SlurmTimeoutError,
        UnsupportedAPIVersionError,
        UnsupportedOperationError,
    )
    from ._options import RequestHooks, RequestInfo, ResponseInfo
    from ._retry import RetryPolicy
    from ._transport import CircuitBreakerConfig
    from .auth import CallableAuth, JWTKeyAuth, SlurmAuth, StaticToken, TokenCommand, TokenFile
    from .executor import AsyncSlurmExecutor, SlurmExecutor
    from .graph import GraphError, JobGraph
    from .jobs import AsyncJobBuilder, JobBuilder, JobSpec, SubmissionUnknownError, SubmittedJob
    from .models import ExitCode, Job, JobBaseState, JobState, Node, Partition
    from .watch import JobEvent, JobEventType, WaitTimeoutError, WatchOptions

# Deprecated names stay visible to type checkers until 0.3 (explicit re-exports), so code
# that still uses them type-checks while it gets the runtime warning.
if _typing.TYPE_CHECKING:
    from .analytics import AuditLog as AuditLog
    from .analytics import CallbackScaler as CallbackScaler
    from .analytics import ComplianceAuditor as ComplianceAuditor
    from .analytics import CostReport as CostReport
    from .analytics import NodeScaler as NodeScaler
    from .analytics import RateCard as RateCard
    from .analytics import ResourceOptimizer as ResourceOptimizer
    from .analytics import RestNodeScaler as RestNodeScaler
    from .analytics import ScalingDecision as ScalingDecision
    from .analytics import StartEstimate as StartEstimate
    from .analytics import TimeRange as TimeRange
    from .graph import GraphRun as GraphRun
    from .jobs import AsyncModelTrainer as AsyncModelTrainer
    from .jobs import AsyncTrainingJob as AsyncTrainingJob
    from .jobs import Dependency as Dependency
    from .jobs import DependencyKind as DependencyKind
    from .jobs import DependencyOperator as DependencyOperator
    from .jobs import DependencyTerm as DependencyTerm
    from .jobs import Experiment as Experiment
    from .jobs import JobOutputError as JobOutputError
    from .jobs import ModelTrainer as ModelTrainer
    from .jobs import OutputReader as OutputReader
    from .jobs import SharedFilesystemReader as SharedFilesystemReader
    from .jobs import TrainingJob as TrainingJob
    from .jobs import build_dependency as build_dependency
    from .jobs import parse_dependency as parse_dependency
    from .models import INFINITE as INFINITE
    from .models import QOS as QOS
    from .models import TRES as TRES
    from .models import Account as Account
    from .models import AccountingJob as AccountingJob
    from .models import AccountingStep as AccountingStep
    from .models import Association as Association
    from .models import Diag as Diag
    from .models import License as License
    from .models import Ping as Ping
    from .models import Reservation as Reservation
    from .models import User as User


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is not None:
        value = getattr(_importlib.import_module(module, __name__), name)
        globals()[name] = value  # cache: __getattr__ runs once per name
        return value
    new_home = _DEPRECATED.get(name)
    if new_home is not None:
        # Not cached, so every use warns; stacklevel 2 is the line that used the name
        # (``from slurm_core import X`` and ``slurm_core.X`` both call this directly).
        _warnings.warn(
            f"importing {name} from slurm_core is deprecated and will stop working in "
            f"slurm-client 0.3; use `from {new_home} import {name}`",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_importlib.import_module(new_home), name)
    raise AttributeError(f"module 'slurm_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
