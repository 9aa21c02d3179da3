#!/bin/bash
@MARK@: checkpoint on SIGUSR2, requeue, resume.
ckpt="${SLURM_CLIENT_CHECKPOINT_DIR:-checkpoints/%x}"
ckpt="${ckpt//%j/$SLURM_JOB_ID}"; ckpt="${ckpt//%x/$SLURM_JOB_NAME}"
mkdir -p -- "$ckpt" || exit 1
export SLURM_CLIENT_CHECKPOINT_DIR="$(cd -- "$ckpt" && pwd)"
export SLURM_CLIENT_RESTART_COUNT="${SLURM_RESTART_COUNT:-0}"
if [ -n "$(ls -A -- "$SLURM_CLIENT_CHECKPOINT_DIR")" ]; then
  export SLURM_CLIENT_RESUME=1
else
  export SLURM_CLIENT_RESUME=0
fi
payload="$(mktemp "${TMPDIR:-/tmp}/slurm-client-payload.XXXXXX")" || exit 1
trap 'rm -f -- "$payload"' EXIT
cat > "$payload" <<'@EOF@'
@PAYLOAD@
@EOF@
read -r shebang < "$payload"
warned=0
child=
on_warning() {
  [ "$warned" = 1 ] && return
  warned=1
  echo "slurm-client: SIGUSR2: asking the program to checkpoint" >&2
  [ -n "$child" ] && kill -USR2 "$child" 2>/dev/null
}
trap on_warning USR2
${shebang#\#!} "$payload" "$@" &
child=$!
[ "$warned" = 1 ] && kill -USR2 "$child" 2>/dev/null
watchdog=
if [ "${SLURM_CLIENT_WATCHDOG:-0}" = 1 ]; then
  end="${SLURM_JOB_END_TIME:-}"
  if [ -z "$end" ]; then
    end="$(date -d "$(squeue -h -j "$SLURM_JOB_ID" -o %e 2>/dev/null)" +%s 2>/dev/null)"
  fi
  if [ -n "$end" ]; then
    wait_for=$(( end - $(date +%s) - ${SLURM_CLIENT_SIGNAL_BEFORE:-300} ))
    [ "$wait_for" -lt 0 ] && wait_for=0
    ( trap 'exit 0' TERM; sleep "$wait_for" & wait $!; kill -USR2 $$ ) &
    watchdog=$!
  fi
fi
while :; do
  wait "$child"; rc=$?
  kill -0 "$child" 2>/dev/null || break
done
[ -n "$watchdog" ] && kill "$watchdog" 2>/dev/null
if [ "$warned" = 1 ] && [ "${SLURM_CLIENT_REQUEUE:-1}" = 1 ]; then
  echo "slurm-client: requeueing job $SLURM_JOB_ID (exit $rc) to resume from" \
    "$SLURM_CLIENT_CHECKPOINT_DIR" >&2
  ${SLURM_CLIENT_SCONTROL:-scontrol} requeue "$SLURM_JOB_ID" && exit 0
fi
exit $rc
