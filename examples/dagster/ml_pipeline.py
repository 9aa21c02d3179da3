"""An ML pipeline as Dagster assets, each one a SLURM job: preprocess -> train -> evaluate.

- ``preprocess`` writes a data set into its asset directory on the shared filesystem and
  returns its path (the IO manager keeps a pointer; nothing is copied).
- ``train`` is a ``slurm_core`` :class:`~slurm_core.jobs.TrainingJob`: one GPU on the ``gpu``
  partition, requeue-on-time-limit checkpointing, a checkpoint after every epoch in
  ``$SLURM_CLIENT_CHECKPOINT_DIR`` and a resume from the newest one when
  ``$SLURM_CLIENT_RESUME`` is 1 (a re-run or a requeue). It returns the model file's path.
  It is given to ``run_job`` as a function of the client (``client.jobs.submit(TrainingJob)``)
  so the preset's own ``execute()`` submits it (with its fallback on Slurm 22.05).
- ``train_function`` is the same training as a plain Python function (:func:`fit`), run on
  one GPU by :class:`slurm_core.SlurmExecutor` with ``checkpoint=``: Slurm signals the job
  before its time limit, the job requeues itself and :func:`fit` resumes from its newest
  checkpoint in ``checkpoint_dir()`` (``resuming()`` says so). The cluster's interpreter
  needs cloudpickle and slurm-client (docs/executor.md).
- ``evaluate`` reads the model and the data by path and returns its metrics (a dict the IO
  manager pickles); the job's id, state, exit code, nodes and run time are on each
  materialization.

The jobs use only what a bare ``python3`` offers. Run it against a cluster::

    export SLURM_REST_URL=http://127.0.0.1:6820 SLURM_JWT=... SLURM_USER_NAME=alice
    export SLURM_SHARED_DIR=/shared/dagster      # same path on this host and the nodes
    export SLURM_DAGSTER_IO_KEY=...   # signs what the IO manager stores; the same every run
    dagster dev -f examples/dagster/ml_pipeline.py

or from Python: ``dagster.materialize(ASSETS, resources=resources(...))``.
"""

import os
import sys
from pathlib import Path
from typing import TypeVar

import cloudpickle
from dagster import AssetExecutionContext, ConfigurableResource, Definitions, EnvVar, asset
from slurm_dagster import SlurmIOManager, SlurmResource, asset_dir

from slurm_core import SlurmClient, SlurmExecutor
from slurm_core.executor import checkpoint_dir, resuming
from slurm_core.jobs import JobBuilder, TrainingJob

B = TypeVar("B", bound=JobBuilder)

if __name__ in sys.modules:  # loaded by name (dagster dev): the jobs cannot import it
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

EPOCHS = 3

PREPROCESS = r"""#!/bin/bash
set -euo pipefail
python3 - "$OUT" <<'PY'
import sys
# y = 3x + 1 with a little deterministic noise
with open(sys.argv[1], "w") as fh:
    for i in range(200):
        x = i / 100
        fh.write(f"{x},{3 * x + 1 + ((i * 7) % 5 - 2) / 10}\n")
PY
echo "wrote $(wc -l < "$OUT") rows to $OUT"
"""

TRAIN = r"""#!/bin/bash
set -euo pipefail
echo "GPUs: ${CUDA_VISIBLE_DEVICES:-none}"
python3 - <<'PY'
import os
data = [tuple(map(float, line.split(","))) for line in open(os.environ["DATA"])]
ckpt_dir, epochs = os.environ["SLURM_CLIENT_CHECKPOINT_DIR"], int(os.environ["EPOCHS"])
w = b = 0.0
start = 0
done = sorted(f for f in os.listdir(ckpt_dir) if f.startswith("epoch-"))
if os.environ.get("SLURM_CLIENT_RESUME") == "1" and done:  # resume from the newest
    start = int(done[-1][6:10])
    w, b = map(float, open(os.path.join(ckpt_dir, done[-1])).read().split())
    print(f"resuming after epoch {start}")
for epoch in range(start + 1, epochs + 1):
    for _ in range(200):
        gw = sum((w * x + b - y) * x for x, y in data) / len(data)
        gb = sum((w * x + b - y) for x, y in data) / len(data)
        w, b = w - 0.5 * gw, b - 0.5 * gb
    with open(os.path.join(ckpt_dir, f"epoch-{epoch:04d}"), "w") as fh:
        fh.write(f"{w} {b}\n")
    print(f"epoch {epoch}: w={w:.3f} b={b:.3f}")
with open(os.environ["MODEL"], "w") as fh:
    fh.write(f"{w} {b}\n")
PY
"""

EVALUATE = r"""#!/bin/bash
set -euo pipefail
python3 - <<'PY'
import os
w, b = map(float, open(os.environ["MODEL"]).read().split())
data = [tuple(map(float, line.split(","))) for line in open(os.environ["DATA"])]
mse = sum((w * x + b - y) ** 2 for x, y in data) / len(data)
with open(os.environ["METRICS"], "w") as fh:
    fh.write(f"mse={mse}\nrows={len(data)}\n")
PY
"""


class MLSettings(ConfigurableResource):  # type: ignore[type-arg]
    """Where the pipeline keeps its files, and the partitions its jobs use."""

    base_dir: str
    partition: str = "debug"
    gpu_partition: str = "gpu"
    job_user: str | None = None
    """The user function jobs run as, when this process runs as another (a root service)."""
    epochs: int = EPOCHS
    """Epochs of :func:`fit` (``train_function``)."""

    def workdir(self, asset_name: str) -> Path:
        """``<base_dir>/<asset>/files``, writable by the jobs' user."""
        path = asset_dir(self.base_dir, [asset_name]) / "files"
        _shared(path)
        return path

    def job(self, builder: B, name: str, script: str, workdir: Path) -> B:
        """``builder`` with the settings every job of the pipeline shares."""
        return (
            builder.name(f"ml-{name}")
            .script(script)
            .partition(self.partition)
            .time_limit("0:10:00")
            .working_directory(workdir)
            .output(workdir / f"{name}-%j.log")
            .environment({"PATH": "/usr/local/bin:/usr/bin:/bin"})
        )


def _shared(path: Path) -> None:
    # The jobs run as their SLURM user, not as this process's: let them write.
    for d in (path.parent, path):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o1777)


@asset(group_name="ml")
def preprocess(context: AssetExecutionContext, slurm: SlurmResource, ml: MLSettings) -> Path:
    """A CSV data set, written by a SLURM job."""
    workdir = ml.workdir("preprocess")
    out = workdir / "data.csv"
    slurm.run_job(
        ml.job(JobBuilder(), "preprocess", PREPROCESS, workdir).environment({"OUT": str(out)}),
        context,
    )
    return out


@asset(group_name="ml")
def train(
    context: AssetExecutionContext, slurm: SlurmResource, ml: MLSettings, preprocess: Path
) -> Path:
    """A model trained on one GPU, checkpointed every epoch (a re-run resumes)."""
    workdir = ml.workdir("train")
    checkpoints = workdir / "checkpoints"
    model = workdir / "model.txt"

    def job(client: SlurmClient) -> TrainingJob:
        return (
            ml.job(client.jobs.submit(TrainingJob), "train", TRAIN, workdir)
            .partition(ml.gpu_partition)
            .with_gpus(1)
            .with_checkpointing(str(checkpoints), signal_before=120)
            .environment({"DATA": str(preprocess), "MODEL": str(model), "EPOCHS": str(EPOCHS)})
        )

    slurm.run_job(job, context)
    return model


@asset(group_name="ml")
def evaluate(
    context: AssetExecutionContext,
    slurm: SlurmResource,
    ml: MLSettings,
    train: Path,
    preprocess: Path,
) -> dict[str, float]:
    """Mean squared error of the model on the data set."""
    workdir = ml.workdir("evaluate")
    metrics = workdir / "metrics.txt"
    job = ml.job(JobBuilder(), "evaluate", EVALUATE, workdir).environment(
        {"MODEL": str(train), "DATA": str(preprocess), "METRICS": str(metrics)}
    )
    slurm.run_job(job, context)
    values = dict(line.split("=", 1) for line in metrics.read_text().split())
    result = {k: float(v) for k, v in values.items()}
    context.add_output_metadata({"mse": result["mse"], "rows": int(result["rows"])})
    return result


def fit(data_path: str, epochs: int) -> dict[str, object]:
    """Runs in the job: the TRAIN script's regression as Python, one checkpoint per epoch
    in ``checkpoint_dir()``, resumed from the newest after a requeue."""
    lines = Path(data_path).read_text().split()
    data = [tuple(map(float, line.split(","))) for line in lines]
    ckpt = checkpoint_dir()
    w = b = 0.0
    start = 0
    done = sorted(ckpt.glob("epoch-*"))
    if resuming() and done:
        start = int(done[-1].name[6:])
        w, b = map(float, done[-1].read_text().split())
        print(f"resuming after epoch {start}")
    for epoch in range(start + 1, epochs + 1):
        for _ in range(200):
            gw = sum((w * x + b - y) * x for x, y in data) / len(data)
            gb = sum((w * x + b - y) for x, y in data) / len(data)
            w, b = w - 0.5 * gw, b - 0.5 * gb
        (ckpt / f"epoch-{epoch:04d}").write_text(f"{w} {b}\n")
    gpus = os.environ.get("CUDA_VISIBLE_DEVICES", "none")
    return {"w": w, "b": b, "epochs": epochs, "resumed_after": start, "gpus": gpus}


@asset(group_name="ml")
def train_function(
    context: AssetExecutionContext, slurm: SlurmResource, ml: MLSettings, preprocess: Path
) -> dict[str, object]:
    """:func:`fit` on one GPU as a function job, requeued and resumed near its time limit."""
    user = int(ml.job_user) if ml.job_user and ml.job_user.isdigit() else ml.job_user
    with (
        slurm.get_client() as client,
        SlurmExecutor(
            client,
            workspace=ml.workdir("train_function"),
            job_user=user,
            partition=ml.gpu_partition,
            gpus=1,
            time_limit="0:10:00",
        ) as executor,
    ):
        future = executor.submit(fit, str(preprocess), ml.epochs, checkpoint=120)
        context.log.info("training in SLURM job %s", future.job_id)
        model = future.result()
    context.add_output_metadata({"slurm_job_id": future.job_id, "gpus": str(model["gpus"])})
    return model


ASSETS = [preprocess, train, evaluate]
FUNCTION_ASSETS = [train_function]
"""The GPU step written as a Python function (needs cloudpickle on the cluster)."""


def resources(base_dir: str | None = None, slurm: SlurmResource | None = None) -> dict[str, object]:
    """The pipeline's resources: the cluster (from the environment unless given), the
    settings and the IO manager, both under ``base_dir`` on the shared filesystem."""
    base = base_dir or os.environ.get("SLURM_SHARED_DIR", "/shared/dagster")
    return {
        "slurm": slurm
        or SlurmResource(
            url=os.environ.get("SLURM_REST_URL", "http://127.0.0.1:6820"),
            token=EnvVar("SLURM_JWT"),
            user_name=os.environ.get("SLURM_USER_NAME"),
        ),
        "ml": MLSettings(
            base_dir=base,
            partition=os.environ.get("SLURM_PARTITION", "debug"),
            gpu_partition=os.environ.get("SLURM_GPU_PARTITION", "gpu"),
            job_user=os.environ.get("SLURM_FUNCTION_JOB_USER"),
        ),
        "io_manager": SlurmIOManager(base_dir=base, secret_key=EnvVar("SLURM_DAGSTER_IO_KEY")),
    }


defs = Definitions(assets=[*ASSETS, *FUNCTION_ASSETS], resources=resources())
