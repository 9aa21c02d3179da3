#!/usr/bin/env bash
# Runs every test. The real clusters are started once here (each pytest session then reuses
# them instead of starting its own) and always stopped on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$HOME/.cache/slurm-client}
TOOLS=$CACHE/tools
RELEASES=${SLURM_TEST_RELEASES:-22.05,24.11,26.05}
export SLURM_TEST_RELEASES=$RELEASES

started=()
cleanup() {
  for r in "${started[@]}"; do
    "$TOOLS/bin/python" -m slurm_core.testing.cluster down --release "$r" || true
  done
}
trap cleanup EXIT

# Graphviz's dot, for the drawing example of docs/concepts/graphs.md (test_docs_examples.py).
command -v dot >/dev/null || apt-get install -y -q graphviz

t0=$SECONDS
for r in ${RELEASES//,/ }; do
  if ! "$TOOLS/bin/python" -m slurm_core.testing.cluster status --release "$r" >/dev/null 2>&1; then
    "$TOOLS/bin/python" -m slurm_core.testing.cluster up --release "$r"
    started+=("$r")
  fi
done
echo "clusters ready in $((SECONDS - t0)) s: $RELEASES"

"$TOOLS/bin/nox" ${NOX_SESSIONS:+-s $NOX_SESSIONS}
