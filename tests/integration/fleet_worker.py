"""One process of the fleet test (tests/integration/test_fleet_redis.py), run as a script.

It watches the job ids read from ``argv[1]`` (a file, one id a line) with the client's own
watch, sharing its ``jobs/state`` polls through a :class:`~slurm_core.watch.RedisFleet`
(``client.jobs.watcher.share_through``), capped at ``TICK`` s between polls (faster than
the fleet's interval, as an eager watch would), and prints one JSON line per event and per
change of role. It exits when every job has ended. Configuration comes from the
environment (the token too: never on a command line).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from typing import Any

from slurm_core import SlurmClient, StaticToken
from slurm_core.watch import RedisFleet, WatchOptions

TICK = 0.25


def say(**what: Any) -> None:
    print(json.dumps({"t": time.time(), "pid": os.getpid(), **what}), flush=True)


def roles(fleet: RedisFleet, stop: threading.Event) -> None:
    """Report each change of role (the watch itself says nothing about the fleet)."""
    leading = False
    while not stop.wait(TICK):
        if fleet.leading != leading:
            leading = fleet.leading
            say(leading=leading)


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
    stop = threading.Event()
    reporter = threading.Thread(target=roles, args=(fleet, stop), daemon=True)
    with SlurmClient(env["FLEET_URL"], auth=auth) as client:
        client.jobs.watcher.share_through(fleet)
        # An eager watch: it asks every TICK; the fleet answers from memory between polls.
        client.jobs.watch_options = WatchOptions(
            min_interval=TICK, initial_interval=TICK, max_interval=TICK
        )
        say(ready=True)
        reporter.start()
        with client.jobs.watch(ids) as events:
            for event in events:
                assert event.new_state is not None
                say(job=str(event.job_id), state=str(event.new_state.base))
    stop.set()
    reporter.join()
    say(done=True, stats=fleet.stats)
    fleet.close()


if __name__ == "__main__":
    main()
