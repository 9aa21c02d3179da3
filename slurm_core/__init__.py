"""slurm-client: a typed SDK for SLURM's REST API (slurmrestd).

Example::

    from slurm_core import SlurmClient

    with SlurmClient.from_env() as client:          # SLURM_REST_URL, SLURM_JWT, ...
        for job in client.jobs.list(states=["RUNNING"]):
            print(job.job_id, job.name, job.state)

Names are imported lazily (``import slurm_core`` stays cheap); ``slurm_core.models`` holds
the versionless models, ``slurm_core.auth`` the token providers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# name -> module that defines it (relative to this package)
_EXPORTS: dict[str, str] = {
    # clients
    "SlurmClient": "._client",
    "AsyncSlurmClient": "._client",
    # exceptions
    "SlurmError": "._exceptions",
    "ConfigurationError": "._exceptions",
    "SlurmConnectionError": "._exceptions",
    "SlurmTimeoutError": "._exceptions",
    "SlurmAPIError": "._exceptions",
    "InvalidRequestError": "._exceptions",
    "AuthenticationError": "._exceptions",
    "PermissionDeniedError": "._exceptions",
    "NotFoundError": "._exceptions",
    "RateLimitError": "._exceptions",
    "ServerError": "._exceptions",
    "ResponseValidationError": "._exceptions",
    "UnsupportedAPIVersionError": "._exceptions",
    "UnsupportedOperationError": "._exceptions",
    "CircuitOpenError": "._exceptions",
    "JobSpecError": "._exceptions",
    "JobFailedError": "._exceptions",
    "SlurmErrorEntry": "._exceptions",
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
    # models
    "INFINITE": ".models",
    "Job": ".models",
    "JobState": ".models",
    "JobBaseState": ".models",
    "ExitCode": ".models",
    "Node": ".models",
    "Partition": ".models",
    "Reservation": ".models",
    "License": ".models",
    "Diag": ".models",
    "Ping": ".models",
    "AccountingJob": ".models",
    "AccountingStep": ".models",
    "TRES": ".models",
    "Account": ".models",
    "User": ".models",
    "Association": ".models",
    "QOS": ".models",
    # job submission
    "JobSpec": ".jobs",
    "JobBuilder": ".jobs",
    "AsyncJobBuilder": ".jobs",
    "SubmittedJob": ".jobs",
    "Dependency": ".jobs",
    "DependencyKind": ".jobs",
    "DependencyOperator": ".jobs",
    "DependencyTerm": ".jobs",
    "build_dependency": ".jobs",
    "parse_dependency": ".jobs",
    "TrainingJob": ".jobs",
    "AsyncTrainingJob": ".jobs",
    "ModelTrainer": ".jobs",
    "AsyncModelTrainer": ".jobs",
    "Experiment": ".jobs",
    "OutputReader": ".jobs",
    "SharedFilesystemReader": ".jobs",
    "JobOutputError": ".jobs",
    "SubmissionUnknownError": ".jobs",
    # watching jobs
    "JobEvent": ".watch",
    "JobEventType": ".watch",
    "WatchOptions": ".watch",
    "WaitTimeoutError": ".watch",
    # dependency graphs
    "JobGraph": ".graph",
    "GraphRun": ".graph",
    "GraphError": ".graph",
    # analytics
    "AuditLog": ".analytics",
    "CallbackScaler": ".analytics",
    "ComplianceAuditor": ".analytics",
    "CostReport": ".analytics",
    "NodeScaler": ".analytics",
    "RateCard": ".analytics",
    "ResourceOptimizer": ".analytics",
    "RestNodeScaler": ".analytics",
    "ScalingDecision": ".analytics",
    "StartEstimate": ".analytics",
    "TimeRange": ".analytics",
}

__all__ = [
    "INFINITE",
    "QOS",
    "TRES",
    "Account",
    "AccountingJob",
    "AccountingStep",
    "Association",
    "AsyncJobBuilder",
    "AsyncModelTrainer",
    "AsyncSlurmClient",
    "AsyncTrainingJob",
    "AuditLog",
    "AuthenticationError",
    "CallableAuth",
    "CallbackScaler",
    "CircuitBreakerConfig",
    "CircuitOpenError",
    "ComplianceAuditor",
    "ConfigurationError",
    "CostReport",
    "Dependency",
    "DependencyKind",
    "DependencyOperator",
    "DependencyTerm",
    "Diag",
    "ExitCode",
    "Experiment",
    "GraphError",
    "GraphRun",
    "InvalidRequestError",
    "JWTKeyAuth",
    "Job",
    "JobBaseState",
    "JobBuilder",
    "JobEvent",
    "JobEventType",
    "JobFailedError",
    "JobGraph",
    "JobOutputError",
    "JobSpec",
    "JobSpecError",
    "JobState",
    "License",
    "ModelTrainer",
    "Node",
    "NodeScaler",
    "NotFoundError",
    "OutputReader",
    "Partition",
    "PermissionDeniedError",
    "Ping",
    "RateCard",
    "RateLimitError",
    "RequestHooks",
    "Reservation",
    "ResourceOptimizer",
    "ResponseValidationError",
    "RestNodeScaler",
    "RetryPolicy",
    "ScalingDecision",
    "ServerError",
    "SharedFilesystemReader",
    "SlurmAPIError",
    "SlurmAuth",
    "SlurmClient",
    "SlurmConnectionError",
    "SlurmError",
    "SlurmErrorEntry",
    "SlurmTimeoutError",
    "StartEstimate",
    "StaticToken",
    "SubmissionUnknownError",
    "SubmittedJob",
    "TimeRange",
    "TokenCommand",
    "TokenFile",
    "TrainingJob",
    "UnsupportedAPIVersionError",
    "UnsupportedOperationError",
    "User",
    "WaitTimeoutError",
    "WatchOptions",
    "__version__",
    "build_dependency",
    "parse_dependency",
]

if TYPE_CHECKING:
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
        ResponseValidationError,
        ServerError,
        SlurmAPIError,
        SlurmConnectionError,
        SlurmError,
        SlurmErrorEntry,
        SlurmTimeoutError,
        UnsupportedAPIVersionError,
        UnsupportedOperationError,
    )
    from ._options import RequestHooks
    from ._retry import RetryPolicy
    from ._transport import CircuitBreakerConfig
    from .analytics import (
        AuditLog,
        CallbackScaler,
        ComplianceAuditor,
        CostReport,
        NodeScaler,
        RateCard,
        ResourceOptimizer,
        RestNodeScaler,
        ScalingDecision,
        StartEstimate,
        TimeRange,
    )
    from .auth import CallableAuth, JWTKeyAuth, SlurmAuth, StaticToken, TokenCommand, TokenFile
    from .graph import GraphError, GraphRun, JobGraph
    from .jobs import (
        AsyncJobBuilder,
        AsyncModelTrainer,
        AsyncTrainingJob,
        Dependency,
        DependencyKind,
        DependencyOperator,
        DependencyTerm,
        Experiment,
        JobBuilder,
        JobOutputError,
        JobSpec,
        ModelTrainer,
        OutputReader,
        SharedFilesystemReader,
        SubmissionUnknownError,
        SubmittedJob,
        TrainingJob,
        build_dependency,
        parse_dependency,
    )
    from .models import (
        INFINITE,
        QOS,
        TRES,
        Account,
        AccountingJob,
        AccountingStep,
        Association,
        Diag,
        ExitCode,
        Job,
        JobBaseState,
        JobState,
        License,
        Node,
        Partition,
        Ping,
        Reservation,
        User,
    )
    from .watch import JobEvent, JobEventType, WaitTimeoutError, WatchOptions


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slurm_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # cache: __getattr__ runs once per name
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
