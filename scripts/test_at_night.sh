#!/usr/bin/env bash
# Runs the clock-sensitive test files with the machine's clock faked to a night instant
# (Debian's faketime), on SQLite. Usage: scripts/test_at_night.sh ['@YYYY-mm-dd HH:MM:SS']
# (default '@2026-12-02 22:30:00', read as Europe/Paris time). Exit 0 only when pytest's
# summary line reports passes and no failure or error.
set -uo pipefail
cd "$(dirname "$0")/.."
AT="${1:-@2026-12-02 22:30:00}"
FILES=(tests/test_clock.py tests/test_sms_booking.py tests/test_sms_twilio.py tests/test_sms_webhooks.py
       tests/test_sms_worker.py tests/test_sms_outage.py tests/test_sms_texts.py tests/test_auth.py
       tests/test_offers.py tests/test_candidates.py tests/test_console.py tests/test_api.py
       tests/test_privacy.py tests/test_stats.py tests/test_concurrency.py tests/test_promises.py
       tests/test_hardening.py tests/test_voice.py tests/test_voice_worker.py tests/test_rpc.py
       tests/test_statements.py tests/test_contributions.py)
[ -n "${NIGHT_FILES:-}" ] && read -r -a FILES <<<"$NIGHT_FILES"
command -v faketime >/dev/null || { echo "faketime is not installed (Debian package faketime)" >&2; exit 1; }
log="$(mktemp)"
echo "=== Clock-sensitive tests under faketime '$AT' (Europe/Paris) ==="
TZ=Europe/Paris timeout --kill-after=30 1200 faketime -f "$AT" \
  .venv/bin/python -m pytest --db=sqlite -q -p no:cacheprovider "${FILES[@]}" >"$log" 2>&1 &
pid=$!
# Once pytest has printed its summary line, give the process 20 s to exit, then end it.
summary_re='^=* ?[0-9]+ (passed|failed|error)'
while kill -0 "$pid" 2>/dev/null; do
  if grep -Eq "$summary_re" "$log"; then
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && { echo "(pytest finished; ending the process faketime kept alive)"; kill -TERM "$pid"; pkill -TERM -P "$pid"; sleep 5; pkill -KILL -P "$pid"; }
    break
  fi
  sleep 2
done
wait "$pid"
rc=$?
cat "$log"
summary="$(grep -E "$summary_re" "$log" | tail -1)"
echo "faketime run: exit $rc, summary: ${summary:-none}"
if [ -z "$summary" ] || echo "$summary" | grep -Eq '[0-9]+ (failed|error)'; then
  echo "The clock-sensitive tests failed at $AT" >&2
  exit 1
fi
echo "$summary" | grep -Eq '[0-9]+ passed' || exit 1
