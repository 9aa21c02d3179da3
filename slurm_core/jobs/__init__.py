"""Job submission: the versionless :class:`JobSpec`, its builders, dependency expressions,
job output readers, and checkpointing GPU training jobs (:mod:`.training`).

Example::

    from slurm_core.jobs import JobBuilder, parse_dependency

    spec = (JobBuilder()
            .command(["python", "train.py"])
            .memory_per_cpu("4G").time_limit("2:00:00")
            .depends_on(afterok=[101, 102])
            .to_spec())
    print(spec.memory_per_cpu, spec.dependency)      # 4096 afterok:101:102
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
from slurm_core.jobs.builder import (
    AsyncJobBuilder,
    AsyncJobSubmitter,
    IgnoredDirectivesWarning,
    JobBuilder,
    JobSubmitter,
    SpecRenderer,
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
from slurm_core.jobs.output import (
    JobOutputError,
    OutputReader,
    SharedFilesystemReader,
    expand_pattern,
    output_path,
)
from slurm_core.jobs.spec import (
    Exclusive,
    JobSpec,
    MailType,
    SignalSpec,
    SubmittedJob,
    normalize_field,
)
from slurm_core.jobs.submission import (
    SubmissionOwnerError,
    SubmissionUnknownError,
    split_comment,
)
from slurm_core.jobs.training import (
    AsyncModelTrainer,
    AsyncTrainingJob,
    Experiment,
    ModelTrainer,
    TrainingJob,
)

__all__ = [
    "MAX_ARRAY_TASK_ID",
    "MAX_MEMORY_MIB",
    "MAX_TIME_LIMIT_MINUTES",
    "ArrayRange",
    "ArraySpec",
    "AsyncJobBuilder",
    "AsyncJobSubmitter",
    "AsyncModelTrainer",
    "AsyncTrainingJob",
    "Dependency",
    "DependencyKind",
    "DependencyOperator",
    "DependencyState",
    "DependencyTerm",
    "Exclusive",
    "Experiment",
    "GresRequest",
    "IgnoredDirectivesWarning",
    "JobBuilder",
    "JobOutputError",
    "JobRef",
    "JobSpec",
    "JobSubmitter",
    "MailType",
    "ModelTrainer",
    "OutputReader",
    "SharedFilesystemReader",
    "SignalSpec",
    "SpecRenderer",
    "SubmissionOwnerError",
    "SubmissionUnknownError",
    "SubmittedJob",
    "TrainingJob",
    "build_dependency",
    "expand_pattern",
    "format_dependency",
    "format_memory",
    "format_time_limit",
    "normalize_field",
    "output_path",
    "parse_dependency",
    "parse_gpus",
    "parse_gres",
    "parse_memory",
    "parse_time_limit",
    "split_comment",
]
