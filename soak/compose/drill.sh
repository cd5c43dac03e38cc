#!/usr/bin/env bash
# The README's kill drill on the compose set-up, as a script: N creates (default 200) through
# the load balancer, 8 at a time, each with its own Idempotency-Key; one worker and one api
# process killed with SIGKILL mid-way (KILL="worker-1 api-1"); every create that was not
# answered 200 sent again with its key until it is. Then it starts the killed ones again,
# waits for every task to end and checks: every id answered, each ended once, each completed
# video downloads (and ffprobe reads its duration), the bucket holds one folder per video, and
# `vidgate ledger check` says "ledger ok"; it exits 1 unless all of these hold. Run from
# the repository root with the set-up up
# (`docker compose -f deploy/docker-compose.yml up -d --build`) and deploy/.env filled in.
set -euo pipefail
N="${N:-200}"
KILL="${KILL:-worker-1 api-1}"
URL="${URL:-http://localhost:8080}"
dc() { docker compose -f deploy/docker-compose.yml "$@"; }
FFPROBE="$(node -p 'require("@ffprobe-installer/ffprobe").path')"
set -a; . deploy/.env; set +a
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
run="drill-$(date +%s)"

KEY=$(curl -sf -X POST "$URL/admin/keys" -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' \
  -d "{\"name\":\"$run\"}" | node -pe 'JSON.parse(require("fs").readFileSync(0)).key')
export KEY URL run work

create() { # $1: the create's number; writes its id, or nothing
  curl -s -o "$work/$1.json" -w '%{http_code}\n' "$URL/v1/videos" -H "Authorization: Bearer $KEY" \
    -H "Idempotency-Key: $run-$1" -H 'Content-Type: application/json' \
    -d "{\"model\":\"grok-imagine\",\"prompt\":\"kite $1\",\"duration\":1,\"size\":\"480p\"}" > "$work/$1.code" || echo 000 > "$work/$1.code"
}
export -f create

started=$(date +%s)
seq 1 "$N" | xargs -P 8 -I{} bash -c 'create {}' &
creating=$!
sleep 1
for service in $KILL; do dc kill -s KILL "$service" >/dev/null 2>&1; echo "killed $service at $(( $(date +%s) - started )) s"; sleep 1; done
wait $creating
echo "$N creates answered in $(( $(date +%s) - started )) s: $(cat "$work"/*.code | sort | uniq -c | tr -s ' \n' ' ')"

for attempt in 1 2 3 4 5; do
  again=$(for i in $(seq 1 "$N"); do [ "$(cat "$work/$i.code")" = 200 ] || echo "$i"; done)
  [ -z "$again" ] && break
  echo "sent again (try $attempt): $(echo $again | wc -w)"
  for i in $again; do create "$i"; done
  sleep 2
done
for service in $KILL; do dc start "$service" >/dev/null 2>&1; done

failed=0
expect() { # $1: what, $2: found, $3: wanted
  if [ "$2" = "$3" ]; then echo "ok    $1: $2"; else echo "WRONG $1: $2, not $3"; failed=1; fi
}
ids=$(for i in $(seq 1 "$N"); do node -pe 'JSON.parse(require("fs").readFileSync(process.argv[1])).id' "$work/$i.json"; done)
expect "distinct ids" "$(echo "$ids" | sort -u | grep -c '^video_')" "$N"
for wait in $(seq 1 120); do
  statuses=$(for id in $ids; do curl -s "$URL/v1/videos/$id" -H "Authorization: Bearer $KEY" | node -pe 'const v = JSON.parse(require("fs").readFileSync(0)); v.status + " " + (v.error?.code ?? "")'; done | sort | uniq -c)
  echo "$statuses" | grep -q -E 'queued|in_progress' || break
  sleep 2
done
echo "ended after $(( $(date +%s) - started )) s"
expect "tasks ended" "$(echo "$statuses" | awk '{$1=$1; print}')" "$N completed"

downloads=0
for id in $ids; do
  curl -s -L -o "$work/v.mp4" "$URL/v1/videos/$id/content" -H "Authorization: Bearer $KEY"
  [ "$("$FFPROBE" -v error -show_entries format=duration -of csv=p=0 "$work/v.mp4")" = 1.000000 ] && downloads=$((downloads + 1))
done
expect "downloads of 1.000000 s" "$downloads" "$N"
expect "videos in the bucket" "$(dc exec -T minio ls /data/vidgate/videos | grep -c -x -F "$ids")" "$N"
expect "ledger check" "$(dc exec -T api-2 vidgate ledger check 2>&1)" "ledger ok"
exit $failed
