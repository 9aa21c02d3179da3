"""One process of the fleet test (tests/integration/test_fleet_redis.py), run as a script.

It watches the job ids read from ``argv[1]`` (a file, one id a line) through a
:class:`~slurm_core.watch._fleet.RedisFleet`, asking for their states every ``TICK`` s
(faster than the fleet's interval, as an eager watch would), derives events by comparing
each answer with the previous one, and prints one JSON line per event and per change of
role. It exits when every job has ended.

Until the watch polls ``jobs/state`` itself (#20 part 1), the state source is the small
:class:`JobsState` below, and the event derivation is this script's own ``diff``.
Configuration comes from the environment (the token too: never on a command line).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from slurm_core import SlurmClient, StaticToken
from slurm_core._engine import Op, run_sync
from slurm_core._versions import Request
from slurm_core.watch._fleet import RedisFleet

TICK = 0.25
FINAL = {"CANCELLED", "COMPLETED", "FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
CHUNK = 500  # ids per request: 300 ids stay one request (about 4 KB of URL)


class JobsState:
    """A direct ``GET jobs/state?job_id=...`` source (v0.0.40+)."""

    def __init__(self, version: str) -> None:
        self.path = f"/slurm/{version}/jobs/state"

    def states(self, job_ids: Sequence[str]) -> Op[Mapping[str, Sequence[str]]]:
        found: dict[str, Sequence[str]] = {}
        for i in range(0, len(job_ids), CHUNK):
            response = yield Request(
                "GET", self.path, params={"job_id": list(job_ids[i : i + CHUNK])}
            )
            for job in response.json().get("jobs", []):
                found[str(job["job_id"])] = [str(f) for f in job["state"]]
        return found


def say(**what: Any) -> None:
    print(json.dumps({"t": time.time(), "pid": os.getpid(), **what}), flush=True)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    env = os.environ
    ids = open(sys.argv[1]).read().split()  # noqa: SIM115  (read once, closed at exit)
    auth = StaticToken(env["FLEET_TOKEN"], user_name=env["FLEET_USER"])
    fleet = RedisFleet(
        env["FLEET_REDIS"],
        cluster_url=env["FLEET_URL"],
        user=env["FLEET_USER"],
        interval=float(env["FLEET_INTERVAL"]),
        ttl=float(env["FLEET_TTL"]),
    )
    with SlurmClient(env["FLEET_URL"], auth=auth) as client:
        source = fleet.source(JobsState(client.negotiate()))
        seen: dict[str, str] = {}
        leading = False
        say(ready=True)
        while any(seen.get(k) not in FINAL for k in ids):
            states = run_sync(client._http, source.states(ids))
            for key in ids:
                flags = states.get(key)
                base = flags[0] if flags else "UNKNOWN"
                if seen.get(key) != base:
                    seen[key] = base
                    say(job=key, state=base)
            if fleet.leading != leading:
                leading = fleet.leading
                say(leading=leading)
            time.sleep(TICK)
    say(done=True, stats=fleet.stats)
    fleet.close()


if __name__ == "__main__":
    main()
