"""``python -m slurm_core.cli`` runs the ``slurm-client`` command line."""

import sys

from . import main

sys.exit(main())
