"""Job submission: parsing of Slurm's units and dependency expressions.

Example::

    from slurm_core.jobs import parse_dependency, parse_memory

    print(parse_memory("4G"), parse_dependency("afterok:101:102").job_ids())   # 4096 [101, 102]
"""

from slurm_core.jobs._units import (
    MAX_ARRAY_TASK_ID,
    MAX_MEMORY_MIB,
    MAX_TIME_LIMIT_MINUTES,
    ArrayRange,
    ArraySpec,
    GresRequest,
    format_memory,
    format_time_limit,
    parse_gpus,
    parse_gres,
    parse_memory,
    parse_time_limit,
)
from slurm_core.jobs.dependency import (
    Dependency,
    DependencyKind,
    DependencyOperator,
    DependencyState,
    DependencyTerm,
    JobRef,
    build_dependency,
    format_dependency,
    parse_dependency,
)

__all__ = [
    "MAX_ARRAY_TASK_ID",
    "MAX_MEMORY_MIB",
    "MAX_TIME_LIMIT_MINUTES",
    "ArrayRange",
    "ArraySpec",
    "Dependency",
    "DependencyKind",
    "DependencyOperator",
    "DependencyState",
    "DependencyTerm",
    "GresRequest",
    "JobRef",
    "build_dependency",
    "format_dependency",
    "format_memory",
    "format_time_limit",
    "parse_dependency",
    "parse_gpus",
    "parse_gres",
    "parse_memory",
    "parse_time_limit",
]
