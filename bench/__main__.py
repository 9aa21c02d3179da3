"""``python -m bench``: :mod:`bench.run`, then :mod:`bench.imports`.

``python -m bench --imports``: only :mod:`bench.imports`; ``python -m bench --peers``:
:mod:`bench.peers`; ``python -m bench --watch-state``: :mod:`bench.watch_state` (queues
2,000 then 10,000 held jobs on the 24.11 cluster, and cancels them; its own options
follow). ``--quick`` (fewer rounds) goes to whichever runs.
"""

import sys

from bench.imports import main as imports
from bench.run import main as run

args = sys.argv[1:]
if "--peers" in args:
    from bench.peers import main as peers

    raise SystemExit(peers([a for a in args if a != "--peers"]))
if "--watch-state" in args:
    from bench.watch_state import main as watch_state

    raise SystemExit(watch_state([a for a in args if a != "--watch-state"]))
if "--imports" in args:
    raise SystemExit(imports([a for a in args if a != "--imports"]))
raise SystemExit(run(args) or imports(args))
