#!/usr/bin/env bash
# Runs every test. The real clusters are started once here (each pytest session then reuses
# them instead of starting its own) and always stopped on the way out.
#
# The nox sessions run in lanes (the suite waits on the clusters more than it computes).
# Phase 1, the core: its cluster tests on 24.11 (it carries the one-release scenarios), on
# the other releases (distinct clusters: the lanes do not queue behind each other's jobs,
# and a test restarting a daemon disturbs only its own lane), and lint+typecheck+unit.
# Phase 2, the orchestrators: airflow+dagster beside prefect. Each lane's output goes to a
# log, printed whole when the phase ends. NOX_SESSIONS=lint,typecheck,core,airflow,prefect,dagster runs the suite
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
# wait_lanes: wait for every lane started, print its log; remember a failure.
failed=0
wait_lanes() {
  for i in "${!lanes[@]}"; do
    wait "${lanes[$i]}" || failed=1
    cat "$logs/${names[$i]}.log"
  done
  lanes=()
  names=()
}
NOX_ARGS=("$@")
names=()
# Phase 1: the core. Each cluster serves one lane only, so the tests that stop, freeze or
# restart its daemons disturb no one else's.
lane cluster-24.11 "integration(lane='busy')"
lane cluster-others "integration(lane='rest')"
lane checks lint typecheck unit
wait_lanes
# Phase 2: the orchestrators, on clusters no core test is disturbing any more.
lane airflow-dagster airflow dagster
lane prefect prefect
wait_lanes
echo "whole suite: $((SECONDS - t0)) s"
exit $failed
