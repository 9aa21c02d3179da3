"""GPU training jobs that survive time limits and preemption by checkpointing and requeueing.

:class:`TrainingJob` is a :class:`~slurm_core.jobs.JobBuilder` preset. With
:meth:`~TrainingJob.with_checkpointing` it

* asks Slurm to send ``SIGUSR2`` to the batch shell ``signal_before`` seconds before the
  time limit (``--signal=B:USR2@<seconds>``; ``USR1`` is taken by NCCL),
* marks the job requeueable (``--requeue``), and
* wraps your script in a small bash *wrapper* that runs it as a child process.

The contract with your program, through its environment:

``SLURM_CLIENT_CHECKPOINT_DIR``
    An absolute directory (created if missing) to write checkpoints into. Relative
    directories are taken from the job's working directory; ``%x`` and ``%j`` in it become
    the job name and id. Default: ``checkpoints/%x``, so resubmitting an experiment under
    the same name resumes it too.
``SLURM_CLIENT_RESUME``
    ``1`` when that directory is not empty, i.e. a previous run left a checkpoint to
    resume from (after a requeue, a preemption, or a resubmission); ``0`` otherwise.
    ``SLURM_CLIENT_RESTART_COUNT`` carries Slurm's ``SLURM_RESTART_COUNT`` (``0`` first).
``SIGUSR2``
    Means "checkpoint now and exit". The wrapper forwards it to your program (only to the
    process it started: ``exec`` your trainer, or forward it yourself). When your program
    has exited after the signal, the wrapper requeues the job (``scontrol requeue``); it
    starts again, from the checkpoint, once Slurm lets it (Slurm delays a requeued job's
    start by about two minutes). A preempted job (``PreemptMode=REQUEUE``) is requeued
    by Slurm itself and resumes the same way.

Slurm 22.05's REST API (v0.0.38) cannot ask for ``B:`` signals. There the wrapped job is
submitted without ``--signal`` and the wrapper sends itself ``SIGUSR2`` ``signal_before``
seconds before the job's end time (the translation sets ``SLURM_CLIENT_WATCHDOG=1``).
Slurm delivers warning signals up to a minute late; leave room to write a checkpoint.

Example::

    job = (client.jobs.submit(TrainingJob)
           .command(["python", "train.py", "--epochs", "100"])
           .name("resnet50").partition("gpu").time_limit("24:00:00")
           .with_gpus(8).with_checkpointing(signal_before=timedelta(minutes=10))
           .execute())

    # train.py
    ckpt = Path(os.environ["SLURM_CLIENT_CHECKPOINT_DIR"]) / "last.pt"
    state = torch.load(ckpt) if os.environ["SLURM_CLIENT_RESUME"] == "1" else None
    signal.signal(signal.SIGUSR2, lambda *_: stop.set())   # save, then exit
"""

from __future__ import annotations

import importlib.resources
import secrets
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar

from slurm_core._exceptions import JobSpecError
from slurm_core.jobs.builder import (
    _S,
    AsyncJobBuilder,
    AsyncJobSubmitter,
    JobBuilder,
    JobSubmitter,
    _BaseJobBuilder,
)
from slurm_core.jobs.spec import JobSpec, SignalSpec, SubmittedJob

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["AsyncModelTrainer", "AsyncTrainingJob", "Experiment", "ModelTrainer", "TrainingJob"]

WRAPPER_MARK: Final = "# slurm-client TrainingJob wrapper v1"
CHECKPOINT_SIGNAL: Final = "USR2"
_WRAPPER: Final = (
    importlib.resources.files(__package__).joinpath("_training_wrapper.sh").read_text()
)


def is_wrapped(script: str) -> bool:
    """True for a script made by :func:`wrap_script`."""
    lines = script.split("\n", 2)
    return len(lines) > 1 and lines[1].startswith(WRAPPER_MARK)


def watchdog_instead(spec: JobSpec) -> JobSpec:
    """``spec`` for a server that refuses ``B:`` signals: a wrapped script's own timer
    replaces the signal (``SLURM_CLIENT_WATCHDOG=1``); any other spec is returned as is."""
    if spec.signal is None or not spec.signal.batch_only or not is_wrapped(spec.script):
        return spec
    env = {**spec.environment, "SLURM_CLIENT_WATCHDOG": "1"}
    return spec.replace(signal=None, environment=env)


def wrap_script(script: str) -> str:
    """The wrapper around ``script`` (see the module docstring); idempotent."""
    if is_wrapped(script):
        return script
    delimiter = "SLURM_CLIENT_PAYLOAD_" + secrets.token_hex(8)
    while delimiter in script:  # pragma: no cover - 64 random bits
        delimiter = "SLURM_CLIENT_PAYLOAD_" + secrets.token_hex(8)
    text = _WRAPPER.replace("@MARK@", WRAPPER_MARK).replace("@EOF@", delimiter)
    return text.replace("@PAYLOAD@", script.rstrip("\n"))


def _seconds(value: timedelta | int, field: str) -> int:
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 0 < seconds <= 0xFFFF:
        raise JobSpecError(field, f"must be 1 s to 65535 s before the end, got {value!r}")
    return seconds


class _Training(_BaseJobBuilder[_S], Generic[_S]):
    """GPU and checkpoint settings shared by :class:`TrainingJob` and its async twin."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._checkpoint: tuple[str, int] | None = None

    def with_gpus(self, count: int, *, type: str | None = None, per_node: bool = False) -> Self:
        """Request ``count`` GPUs for the job (``per_node=True``: on each node, as GRES)."""
        if per_node:
            return self.gres(f"gpu:{type}:{count}" if type else f"gpu:{count}")
        return self.gpus(count, type=type)

    def with_checkpointing(
        self,
        directory: str = "checkpoints/%x",
        *,
        signal_before: timedelta | int = timedelta(minutes=5),
    ) -> Self:
        """Checkpoint on ``SIGUSR2`` ``signal_before`` the time limit, requeue and resume.

        ``directory`` (``%x`` job name, ``%j`` job id; relative to the working directory)
        reaches the program as ``SLURM_CLIENT_CHECKPOINT_DIR``.
        """
        if not isinstance(directory, str) or not directory.strip() or "\n" in directory:
            raise JobSpecError("environment", f"bad checkpoint directory {directory!r}")
        self._checkpoint = (directory, _seconds(signal_before, "signal"))
        return self

    def to_spec(self) -> JobSpec:
        """The job as submitted: the wrapped script, signal, requeue and environment.

        The spec asks for ``B:USR2``; REST API v0.0.38 cannot, and its translation sends a
        wrapped script without ``--signal`` and with ``SLURM_CLIENT_WATCHDOG=1`` instead,
        so the spec works everywhere (also through ``submit_spec``, graphs, operators).
        """
        spec = super().to_spec()
        if self._checkpoint is None:
            return spec
        directory, before = self._checkpoint
        env = {
            "SLURM_CLIENT_CHECKPOINT_DIR": directory,
            "SLURM_CLIENT_SIGNAL_BEFORE": str(before),
            "SLURM_CLIENT_WATCHDOG": "0",
            **spec.environment,
        }
        signal = SignalSpec(signal=CHECKPOINT_SIGNAL, delay=before, batch_only=True)
        return spec.replace(
            script=wrap_script(spec.script), environment=env, requeue=True, signal=signal
        )


class TrainingJob(_Training[JobSubmitter], JobBuilder):
    """A :class:`JobBuilder` for GPU training that checkpoints, requeues and resumes.

    See the module docstring for the environment contract. Obtain one wired to a client
    with ``client.jobs.submit(TrainingJob)``.

    Example::

        job = (client.jobs.submit(TrainingJob).command(["python", "train.py"])
               .with_gpus(2).with_checkpointing().time_limit("8:00:00").execute())
    """


class AsyncTrainingJob(_Training[AsyncJobSubmitter], AsyncJobBuilder):
    """Async twin of :class:`TrainingJob`.

    Example::

        job = await (async_client.jobs.submit(AsyncTrainingJob).command(["python", "t.py"])
                     .with_gpus(1).with_checkpointing().execute())
    """


class Experiment:
    """One training run: a ``name`` and either a ``command`` (argv) or a ``script``.

    Example::

        Experiment("lr-3", ["python", "train.py", "--lr=1e-3"], environment={"SEED": "1"})
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str] | None = None,
        *,
        script: str | None = None,
        environment: Mapping[str, str] | None = None,
    ) -> None:
        if (command is None) == (script is None):
            raise JobSpecError("script", f"experiment {name!r} needs a command or a script")
        self.name, self.command, self.script = name, command, script
        self.environment = dict(environment or {})

    def __repr__(self) -> str:
        return f"Experiment({self.name!r}, command={self.command!r})"


Experiments = Sequence[Experiment] | Mapping[str, Sequence[str]]


_T = TypeVar("_T", bound="_Training[Any]")


class _Plan(Generic[_T]):
    """The settings a :class:`ModelTrainer` applies to every experiment."""

    def __init__(self, make: Callable[[], _T], experiments: Experiments) -> None:
        if isinstance(experiments, Mapping):
            experiments = [Experiment(n, list(argv)) for n, argv in experiments.items()]
        if not experiments:
            raise ValueError("no experiments to train")
        self._make = make
        self._experiments = list(experiments)
        self._gpus: tuple[int, str | None, bool] | None = None
        self._checkpoint: tuple[str, timedelta | int] | None = None
        self._configure: list[Callable[[_T], _T | None]] = []

    def with_gpus(self, count: int, *, type: str | None = None, per_node: bool = False) -> Self:
        """GPUs for each experiment (see :meth:`TrainingJob.with_gpus`)."""
        self._gpus = (count, type, per_node)
        return self

    def with_checkpointing(
        self, directory: str = "checkpoints", *, signal_before: timedelta | int = 300
    ) -> Self:
        """Checkpoint each experiment into ``<directory>/<experiment name>``."""
        self._checkpoint = (directory.rstrip("/"), signal_before)
        return self

    def configure(self, change: Callable[[_T], _T | None]) -> Self:
        """Apply ``change(builder)`` to every experiment's builder (partition, time...)."""
        self._configure.append(change)
        return self

    def builders(self) -> list[_T]:
        """One configured builder per experiment."""
        out = []
        for exp in self._experiments:
            b = self._make().name(exp.name)
            b = b.command(exp.command) if exp.command is not None else b.script(exp.script or "")
            if exp.environment:
                b.environment(exp.environment)
            if self._gpus is not None:
                count, type_, per_node = self._gpus
                b.with_gpus(count, type=type_, per_node=per_node)
            if self._checkpoint is not None:
                directory, before = self._checkpoint
                b.with_checkpointing(f"{directory}/{exp.name}", signal_before=before)
            for change in self._configure:
                b = change(b) or b
            out.append(b)
        return out

    def dry_run(self) -> list[dict[str, Any]]:
        """The request bodies, one per experiment, without submitting."""
        return [b.dry_run() for b in self.builders()]


class TrainingPlan(_Plan[TrainingJob]):
    """Experiments to submit with :class:`ModelTrainer`."""

    def execute(self) -> list[SubmittedJob]:
        """Submit one job per experiment, in order; returns their handles.

        Experiments submitted before a failing one stay submitted.
        """
        return [b.execute() for b in self.builders()]


class AsyncTrainingPlan(_Plan[AsyncTrainingJob]):
    """Async twin of :class:`TrainingPlan`."""

    async def execute(self) -> list[SubmittedJob]:
        """See :meth:`TrainingPlan.execute`."""
        return [await b.execute() for b in self.builders()]


_B = TypeVar("_B")


class _BuilderSource(Protocol[_B]):
    def submit(self, builder: type[_B], /) -> _B: ...


class _Jobs(Protocol):
    """What a trainer needs of a client: ``client.jobs.submit(TrainingJob)`` (the job
    descriptions sit below the clients, so they name no client class)."""

    @property
    def jobs(self) -> _BuilderSource[TrainingJob]: ...


class _AsyncJobs(Protocol):
    @property
    def jobs(self) -> _BuilderSource[AsyncTrainingJob]: ...


class ModelTrainer:
    """Submit one checkpointing GPU training job per experiment.

    Example::

        jobs = (ModelTrainer(client)
                .train_models({"lr-3": ["python", "train.py", "--lr=1e-3"],
                               "lr-4": ["python", "train.py", "--lr=1e-4"]})
                .with_gpus(8).with_checkpointing()
                .configure(lambda b: b.partition("gpu").time_limit("24:00:00"))
                .execute())
        print([j.job_id for j in jobs])
    """

    def __init__(self, client: _Jobs) -> None:
        self._client = client

    def train_models(self, experiments: Experiments) -> TrainingPlan:
        """Plan ``experiments`` (``Experiment`` objects, or ``{name: argv}``)."""
        return TrainingPlan(lambda: self._client.jobs.submit(TrainingJob), experiments)


class AsyncModelTrainer:
    """Async twin of :class:`ModelTrainer`.

    Example::

        jobs = await AsyncModelTrainer(client).train_models(exps).with_gpus(8).execute()
    """

    def __init__(self, client: _AsyncJobs) -> None:
        self._client = client

    def train_models(self, experiments: Experiments) -> AsyncTrainingPlan:
        """See :meth:`ModelTrainer.train_models`."""
        return AsyncTrainingPlan(lambda: self._client.jobs.submit(AsyncTrainingJob), experiments)
