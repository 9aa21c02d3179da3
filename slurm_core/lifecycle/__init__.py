"""One job's lifecycle, once for every adapter: submit or re-attach, follow, output, cancel.

:class:`JobSupervisor` (and its async twin :class:`AsyncJobSupervisor`) runs one job:

* **submit or attach** under a durable key: the calling user's job carrying the key,
  running or finished, is re-attached; otherwise the job is submitted
  (``builder.submission_key(K).execute(attach=True)``);
* **follow** it through the client's one shared watch loop, to a :class:`JobOutcome`;
* **output**: stdout and stderr lines (:class:`OutputLine`) while the job runs, where the
  files are readable (the client's output reader, bounded);
* **dependencies**: a job that can never start fails fast with
  :class:`DependencyNeverSatisfiedError`, naming the upstream job and its state;
* **cancel policy**: :data:`CANCEL_POLICY` maps each :class:`CancelReason` to a decision;
  adapters translate what their orchestrator did into a reason and call ``cancel``.

See docs/concepts/lifecycle.md.

Example::

    from slurm_core.lifecycle import CancelReason, JobSupervisor

    supervisor = JobSupervisor(client, builder, key="airflow-dag1-run7-task3",
                               on_output=lambda line: log.info("%s", line.text))
    try:
        result = supervisor.run()
    except KeyboardInterrupt:
        raise                                   # cancelled by the policy (a kill)
"""

from ._async import AsyncJobSupervisor
from ._brain import JobOutcome, SupervisedJob
from ._errors import DependencyNeverSatisfiedError
from ._output import OutputLine
from ._policy import CANCEL_POLICY, CancelDecision, CancelReason, reason_for
from ._sync import JobSupervisor

__all__ = [
    "CANCEL_POLICY",
    "AsyncJobSupervisor",
    "CancelDecision",
    "CancelReason",
    "DependencyNeverSatisfiedError",
    "JobOutcome",
    "JobSupervisor",
    "OutputLine",
    "SupervisedJob",
    "reason_for",
]
