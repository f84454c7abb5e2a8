#!/usr/bin/env bash
# Drives a running `paysim up` with tools nobody on this project wrote:
# the mariadb client, redis-cli, kcat and curl (all from Debian packages).
# Usage: scripts/tools-check.sh [embedded|containers]
#   (builds paysim, starts `paysim up --mode MODE`, checks, tears down; in
#   containers mode also the servers' own versions and a Sentinel's answer)
set -euo pipefail
mode=${1:-embedded}
case "$mode" in embedded|containers) ;; *) echo "tools-check: mode $mode: want embedded or containers" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

for tool in mariadb redis-cli kcat curl jq; do
  command -v "$tool" >/dev/null || { echo "tools-check: $tool not installed (apt-get install mariadb-client redis-tools kcat curl jq)" >&2; exit 3; }
done

work=$(mktemp -d)
go build -o "$work/paysim" ./cmd/paysim
"$work/paysim" up --mode "$mode" --out "$work" >"$work/up.log" 2>&1 &
pid=$!
cleanup() {
  kill -INT "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 1800); do
  [ -s "$work/endpoints.json" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/up.log"; echo "tools-check: paysim up died" >&2; exit 1; }
  sleep 0.1
done
[ -s "$work/endpoints.json" ] || { cat "$work/up.log"; echo "tools-check: no endpoints.json" >&2; exit 1; }
ep=$work/endpoints.json
pass=0
ok() { pass=$((pass + 1)); echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; cat "$work/up.log" >&2; exit 1; }

# --- MySQL wire protocol: the mariadb client -------------------------------
myaddr=$(jq -r .mysql.addr "$ep")
sql() {
  mariadb --protocol=tcp -h 127.0.0.1 -P "${myaddr##*:}" -u "$(jq -r .mysql.user "$ep")" \
    -p"$(jq -r .mysql.password "$ep")" --skip-ssl -N -B "$(jq -r .mysql.database "$ep")" -e "$1"
}
sql "CREATE TABLE tools_check (id INT PRIMARY KEY, v VARCHAR(20))" || fail "mariadb: create table"
sql "INSERT INTO tools_check VALUES (1, 'one')" || fail "mariadb: insert"
[ "$(sql "SELECT v FROM tools_check WHERE id = 1")" = "one" ] || fail "mariadb: select"
ok "mariadb: table created, row inserted and read back"
sql "START TRANSACTION; INSERT INTO tools_check VALUES (2, 'two'); ROLLBACK;" || fail "mariadb: rollback txn"
[ "$(sql "SELECT COUNT(*) FROM tools_check WHERE id = 2")" = "0" ] || fail "mariadb: rolled-back row visible"
ok "mariadb: rolled-back transaction left nothing"
if out=$(sql "INSERT INTO tools_check VALUES (1, 'dup')" 2>&1); then fail "mariadb: duplicate accepted"; fi
echo "$out" | grep -q "ERROR 1062" || fail "mariadb: duplicate gave '$out', want ERROR 1062"
ok "mariadb: duplicate key -> $(echo "$out" | grep -o "ERROR 1062.*")"
if out=$(sql "SELEKT nonsense FROM" 2>&1); then fail "mariadb: malformed SQL accepted"; fi
echo "$out" | grep -q "ERROR" || fail "mariadb: malformed SQL gave '$out'"
[ "$(sql "SELECT COUNT(*) FROM accounts")" -gt 0 ] || fail "mariadb: server stopped serving after a bad query"
ok "mariadb: malformed SQL -> $(echo "$out" | grep -o "ERROR.*"); server still serving"

if [ "$mode" = containers ]; then
  v=$(sql "SELECT VERSION()")
  echo "$v" | grep -q MariaDB || fail "mariadb: SELECT VERSION() = $v, want MariaDB"
  ok "mariadb: SELECT VERSION() = $v"
fi

# --- Redis: redis-cli -------------------------------------------------------
raddr=$(jq -r .redis.addr "$ep")
rc() { redis-cli -h 127.0.0.1 -p "${raddr##*:}" "$@"; }
[ "$(rc SET tools:k v1 NX EX 60)" = "OK" ] || fail "redis-cli: SET NX EX"
[ -z "$(rc SET tools:k v2 NX EX 60)" ] || fail "redis-cli: second SET NX must not set"
[ "$(rc GET tools:k)" = "v1" ] || fail "redis-cli: GET"
ttl=$(rc TTL tools:k); [ "$ttl" -gt 0 ] && [ "$ttl" -le 60 ] || fail "redis-cli: TTL $ttl"
ok "redis-cli: SET NX EX, second SET NX refused, GET v1, TTL $ttl"
out=$(rc NOSUCHCOMMAND a b 2>&1 || true)
echo "$out" | grep -qi "err" || fail "redis-cli: unknown command gave '$out'"
[ "$(rc PING)" = "PONG" ] || fail "redis-cli: node stopped serving"
ok "redis-cli: unknown command -> $out; node still serving"
if [ "$mode" = containers ]; then
  v=$(rc INFO server | tr -d '\r' | grep '^redis_version:') || fail "redis-cli: INFO server has no redis_version"
  ok "redis-cli: INFO server: $v"
  sentinel=$(jq -r '.redis.sentinels[0]' "$ep")
  master=$(redis-cli -h 127.0.0.1 -p "${sentinel##*:}" SENTINEL get-master-addr-by-name "$(jq -r .redis.master_name "$ep")" | head -1)
  [ -n "$master" ] || fail "redis-cli: the Sentinel on $sentinel names no primary"
  grep -q "redis-0-.*primary" "$work/up.log" && echo "$master" | grep -q "^redis-0-" || fail "redis-cli: the Sentinel names $master, not the primary paysim up lists"
  ok "redis-cli: SENTINEL get-master-addr-by-name -> $master (the primary)"
fi

# --- Kafka: kcat ---------------------------------------------------------------
broker=$(jq -r '.kafka.bootstrap[0]' "$ep")
kcat -b "$broker" -L -m 5 | grep -q "topic \"payments\"" || fail "kcat: metadata lacks topic payments"
ok "kcat: metadata lists topic payments"
msg="tools-check-$$-$RANDOM"
echo "$msg" | kcat -b "$broker" -t app-logs -P -m 10 || fail "kcat: produce"
kcat -b "$broker" -t app-logs -C -o beginning -e -q -m 20 | grep -q "$msg" || fail "kcat: consume did not return $msg"
ok "kcat: produced and consumed $msg"

# --- Elasticsearch API: curl -------------------------------------------------------
es=$(jq -r .elasticsearch.url "$ep")
bulk='{"index":{"_index":"tools-check","_id":"1"}}
{"user":"alice","msg":"payment ok","amount":100}
{"index":{"_index":"tools-check","_id":"2"}}
{"user":"bob","msg":"payment failed","amount":5000}
{"index":{"_index":"tools-check","_id":"3"}}
{"user":"carol","msg":"refund ok","amount":300}
'
res=$(curl -sS -H 'Content-Type: application/x-ndjson' -XPOST "$es/_bulk?refresh=true" --data-binary "$bulk")
[ "$(echo "$res" | jq -r .errors)" = "false" ] || fail "curl: _bulk: $res"
ok "curl: _bulk?refresh=true indexed 3 docs"
q='{"query":{"bool":{"must":[{"match":{"msg":"ok"}}],"filter":[{"range":{"amount":{"gte":200}}}]}}}'
res=$(curl -sS -H 'Content-Type: application/json' "$es/tools-check/_search" -d "$q")
[ "$(echo "$res" | jq -r '.hits.total.value')" = "1" ] && [ "$(echo "$res" | jq -r '.hits.hits[0]._id')" = "3" ] || fail "curl: _search: $res"
ok "curl: bool/match/range _search found exactly doc 3"
res=$(curl -sS "$es/tools-check/_count")
[ "$(echo "$res" | jq -r .count)" = "3" ] || fail "curl: _count: $res"
ok "curl: _count = 3"
code=$(curl -sS -o "$work/bad.json" -w '%{http_code}' -H 'Content-Type: application/x-ndjson' -XPOST "$es/_bulk" --data-binary $'{"index":{"_index":"x"\n{"a":1}\n')
[ "${code:0:1}" = "4" ] || fail "curl: malformed bulk gave HTTP $code"
jq -e .error.type "$work/bad.json" >/dev/null || fail "curl: malformed bulk body is not ES-shaped: $(cat "$work/bad.json")"
[ "$(curl -sS -o /dev/null -w '%{http_code}' "$es/_cluster/health")" = "200" ] || fail "curl: node stopped serving"
ok "curl: malformed _bulk -> HTTP $code $(jq -c .error.type "$work/bad.json"); node still serving"

# --- Payment API: curl -----------------------------------------------------------
api=$(jq -r '.api.url // empty' "$ep")
if [ -n "$api" ]; then
  res=$(curl -sS -XPOST "$api/v1/topups" -H 'Content-Type: application/json' -H "Idempotency-Key: tools-$$" -d '{"account_id":"u-1","amount":500}')
  [ "$(echo "$res" | jq -r .status)" = "committed" ] || fail "curl: top-up: $res"
  again=$(curl -sS -XPOST "$api/v1/topups" -H 'Content-Type: application/json' -H "Idempotency-Key: tools-$$" -d '{"account_id":"u-1","amount":500}')
  [ "$(echo "$again" | jq -r .id)" = "$(echo "$res" | jq -r .id)" ] || fail "curl: replay differs: $again"
  ok "curl: API top-up committed and replayed with the same id"
fi

echo "tools-check: $pass passed, 0 failed"
