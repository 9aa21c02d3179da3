"""TaskFlow decorators: ``@task.slurm`` (:mod:`slurm_airflow.decorators.slurm`)."""
