"""Level 3: a real local SLURM cluster (needs root; started by the ``slurm_cluster`` fixture).

Run with, e.g., ``SLURM_TEST_RELEASES=24.11 pytest examples/testing/test_with_cluster.py``;
without a usable cluster the test is skipped (or fails when ``CI=true``).
"""

from workload import train

from slurm_core import SlurmClient, StaticToken
from slurm_core.testing.cluster import LocalSlurmCluster


def test_train_on_a_real_cluster(slurm_cluster: LocalSlurmCluster) -> None:
    auth = StaticToken(slurm_cluster.token(), user_name=slurm_cluster.user_name)
    with SlurmClient(slurm_cluster.rest_url, auth=auth) as client:
        job_id = train(client, workdir=str(slurm_cluster.shared_dir))
        assert client.jobs.get(job_id).state.is_success
