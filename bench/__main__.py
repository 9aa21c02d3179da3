"""``python -m bench``: see :mod:`bench.run`; ``python -m bench --peers``: :mod:`bench.peers`."""

import sys

if "--peers" in sys.argv[1:]:
    from bench.peers import main as peers

    raise SystemExit(peers([a for a in sys.argv[1:] if a != "--peers"]))

from bench.run import main

raise SystemExit(main())
