#!/usr/bin/env bash
# Runs every test. The real clusters are started once here (each pytest session then reuses
# them instead of starting its own) and always stopped on the way out.
#
# The nox sessions run in four lanes at once (the suite waits on the clusters more than it
# computes): the core's cluster tests on 24.11 (it carries the one-release scenarios), on
# the other releases (distinct clusters: the lanes do not queue behind each other's jobs),
# lint+typecheck+dagster, and unit+airflow+prefect (the unit tests, some of which bound
# elapsed time, run while the other lanes mostly wait, before Airflow's and Prefect's
# servers compete for the CPU). Each lane's output goes to a log, printed whole when the
# lane ends. NOX_SESSIONS=lint,typecheck,core,airflow,prefect,dagster runs the suite
# serially, as before.
# NOX_SESSIONS=a,b runs just those, one after the other; extra arguments go to every nox.
# NOX overrides the nox to run (default: the tools venv's).
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${CACHE:-$HOME/.cache/slurm-client}
TOOLS=$CACHE/tools
NOX=${NOX:-$TOOLS/bin/nox}
RELEASES=${SLURM_TEST_RELEASES:-22.05,24.11,26.05}
export SLURM_TEST_RELEASES=$RELEASES

started=()
lanes=()
logs=$(mktemp -d)
cleanup() {
  for pid in "${lanes[@]}"; do kill -- "$pid" 2>/dev/null || true; done
  wait || true
  for r in "${started[@]}"; do
    "$TOOLS/bin/python" -m slurm_core.testing.cluster down --release "$r" || true
  done
  rm -rf "$logs"
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

if [[ -n ${NOX_SESSIONS:-} ]]; then
  "$NOX" -s ${NOX_SESSIONS//,/ } "$@"
  exit
fi

# lane NAME SESSION...: the sessions one after the other, in the background, into a log.
lane() {
  local name=$1
  shift
  (
    start=$SECONDS
    set +e
    "$NOX" -s "$@" "${NOX_ARGS[@]}" >"$logs/$name.log" 2>&1
    rc=$?
    echo "lane $name ($*): exit $rc after $((SECONDS - start)) s" >>"$logs/$name.log"
    exit $rc
  ) &
  lanes+=($!)
  names+=("$name")
}
NOX_ARGS=("$@")
names=()
lane cluster-24.11 "integration(lane='busy')"
lane cluster-others "integration(lane='rest')"
lane checks lint typecheck dagster
lane unit-orchestrators unit airflow prefect

failed=0
for i in "${!lanes[@]}"; do
  wait "${lanes[$i]}" || failed=1
  cat "$logs/${names[$i]}.log"
done
lanes=()
echo "whole suite: $((SECONDS - t0)) s"
exit $failed
