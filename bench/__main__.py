"""``python -m bench``: :mod:`bench.run`, then :mod:`bench.imports`.

``python -m bench --imports``: only :mod:`bench.imports`; ``python -m bench --peers``:
:mod:`bench.peers`. ``--quick`` (fewer rounds) goes to whichever runs.
"""

import sys

from bench.imports import main as imports
from bench.run import main as run

args = sys.argv[1:]
if "--peers" in args:
    from bench.peers import main as peers

    raise SystemExit(peers([a for a in args if a != "--peers"]))
if "--imports" in args:
    raise SystemExit(imports([a for a in args if a != "--imports"]))
raise SystemExit(run(args) or imports(args))
