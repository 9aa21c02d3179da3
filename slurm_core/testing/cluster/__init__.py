"""Real local SLURM clusters (22.05, 24.11, 26.05) for tests and demos.

Each release runs in its own cached Debian root (made with debootstrap) on its own ports,
with slurmctld, slurmd, slurmrestd (JWT auth) and, by default, slurmdbd on MariaDB. Needs
root on Linux.

**A test harness, not a deployment and not a security boundary.** The daemons run as root
in a plain ``chroot`` (no namespaces, no cgroups), the host's ``/proc`` and ``/sys`` are
mounted inside, users have fixed uids, device nodes are world-writable (0666), and the JWT
key (it mints a token for any user, root included) sits in the cache directory. Anything in
the root can reach the host. Run it only on a disposable machine or CI runner, never beside
production, never for real users or data.

From the shell::

    python -m slurm_core.testing.cluster up --release 24.11
    eval "$(python -m slurm_core.testing.cluster env --release 24.11)"
    curl -H "X-SLURM-USER-TOKEN: $SLURM_JWT" $SLURM_REST_URL/slurm/v0.0.42/diag

From Python::

    from slurm_core.testing.cluster import LocalSlurmCluster

    with LocalSlurmCluster("26.05") as cluster:
        print(cluster.rest_url, cluster.served_versions)
"""

from ._cluster import ClusterStatus, LocalSlurmCluster, default_cache_dir
from ._commands import license_reservation
from ._errors import ClusterError
from ._preempt import Preemption, PreemptTimeoutError
from ._release import RELEASES, Ports

__all__ = [
    "RELEASES",
    "ClusterError",
    "ClusterStatus",
    "LocalSlurmCluster",
    "Ports",
    "PreemptTimeoutError",
    "Preemption",
    "default_cache_dir",
    "license_reservation",
]
