"""``python -m slurm_core.testing.cluster up|down|status|env|share --release R``.

``share`` makes this interpreter (its venv, base install and the ``slurm_core`` source
tree) visible inside a running cluster at the same paths, for Python function jobs.

Exit codes: 0 success; 1 a cluster error (message on stderr); 2 usage error; ``status``
exits 3 when a cluster is not running, so scripts can test ``status`` directly.

Example::

    python -m slurm_core.testing.cluster up --release all
    eval "$(python -m slurm_core.testing.cluster env --release 26.05)"
    python -m slurm_core.testing.cluster down --release all
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence

from ._cluster import LocalSlurmCluster
from ._errors import ClusterError
from ._release import RELEASES

NOT_RUNNING = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m slurm_core.testing.cluster",
        description="Start, stop and inspect real local SLURM clusters (needs root).",
        epilog=(
            "A TEST HARNESS, NOT FOR PRODUCTION AND NOT A SECURITY BOUNDARY: root daemons "
            "in a plain chroot with the host's /proc and /sys mounted, fixed uids, device "
            "nodes 0666. Run it only on a disposable machine or CI runner."
        ),
    )
    parser.add_argument("command", choices=("up", "down", "status", "env", "share"))
    parser.add_argument(
        "--release",
        default="24.11",
        choices=(*RELEASES, "all"),
        help="SLURM release, or 'all' (default: %(default)s)",
    )
    parser.add_argument(
        "--no-accounting", action="store_true", help="up: without slurmdbd and MariaDB"
    )
    parser.add_argument("--nodes", type=int, default=1, help="up: compute nodes (default: 1)")
    parser.add_argument(
        "--cache-dir", default=None, help="default: $SLURM_CLIENT_CACHE or ~/.cache/slurm-client"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="print timings of each step")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO,
        format="%(message)s",
        stream=sys.stderr,
    )
    releases = list(RELEASES) if args.release == "all" else [args.release]
    if args.command == "env" and len(releases) != 1:
        print("env needs one --release (the variables have the same names)", file=sys.stderr)
        return 2
    status = 0
    for release in releases:
        cluster = LocalSlurmCluster(
            release, accounting=not args.no_accounting, cache_dir=args.cache_dir, nodes=args.nodes
        )
        try:
            status = max(status, _run(args.command, cluster, args.quiet))
        except ClusterError as exc:
            print(f"SLURM {release}: {exc}", file=sys.stderr)
            status = max(status, 1)
    return status


def _run(command: str, cluster: LocalSlurmCluster, quiet: bool) -> int:
    if command == "up":
        t0 = time.monotonic()
        cluster.start()
        if not quiet:
            print(
                f"SLURM {cluster.release} up at {cluster.rest_url} ({time.monotonic() - t0:.1f} s)"
            )
    elif command == "down":
        cluster.stop()
        if not quiet:
            print(f"SLURM {cluster.release} down")
    elif command == "share":
        shared = cluster.share_python()
        if not quiet:
            print(f"SLURM {cluster.release}: shared {', '.join(map(str, shared)) or 'nothing new'}")
    elif command == "status":
        st = cluster.status()
        if not quiet:
            print(st)
        return 0 if st.running else NOT_RUNNING
    else:
        running = LocalSlurmCluster.running(cluster.release, cluster.cache_dir)
        if running is None:
            raise ClusterError(
                f"not running; start it with: python -m slurm_core.testing.cluster up "
                f"--release {cluster.release}"
            )
        env = running.env()
        print("export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
