#!/usr/bin/env bash
# Load benchmark of `keyward gate` on loopback, against three baselines
# measured in the same run:
#   ceiling   a Go net/http handler with no authentication at all
#   raw-check the same handler doing one bare RS256 check per request (SHA-256
#             + rsa.VerifyPKCS1v15, no parsing): the raw check in situ
#   keyfunc   golang-jwt v5 + MicahParks/keyfunc v3 (bench/gatetool)
#   node      express + express-jwt + jwks-rsa, cache: true, rateLimit: true
# and the gate in demo mode, with its verified-token cache and with
# --cache-size 0, plus gate-one, whose cache only ever sees the repeated
# token, and gate-full, whose cache (500 entries) is always full and
# never holds the token asked for: every request is a miss, an insertion and
# an eviction. Workloads: one repeated RS256 token, 1000 distinct tokens,
# 1000 tokens with a bad signature.
#
# Usage: bench/gate.sh [--write]     (--write updates docs/performance.md)
# Every server runs from the start; the rows are measured in ROUNDS rounds,
# in a different order each round, and each figure is the median of its
# rounds, so that a change in the machine's speed during the run falls on
# every server alike.
#
# Proxy mode: the same upstream API (gatetool upstream) behind
#   plain-proxy         httputil.ReverseProxy with no authentication (gatetool
#                       plainproxy), as its documentation shows it
#   plain-proxy-pooled  the same with a pool of copy buffers, as the gate has
#   gate-proxy          keyward gate --upstream, and gate-proxy-nocache with
#                       --cache-size 0
#   oauth2-proxy        oauth2-proxy v7 in bearer-JWT mode
#                       (--skip-jwt-bearer-tokens), built from the module
#                       proxy; left out when it cannot be built
#
# Route policies: gate-policy is gate-one with --policy: ten routes and two
# issuers (the bench issuer by its JWKS URL and a second one from a key
# file), the protected route the last of the ten, accepting both issuers
# and requiring a scope; paired with gate-one on the repeated token, its CPU
# per request is the cost of the policy (target: ≤ 1.05× gate-one).
# ONLY=policy measures these two rows alone.
#
# Environment: ROUNDS (3), DURATION (5s), WARMUP (2s), CONNECTIONS (32),
#   SERVER_CPU (0), LOAD_CPU (1): the server under test and wrk run pinned
#   to different cores with taskset (the upstream of the proxy rows runs on
#   LOAD_CPU too, so that it takes nothing from the proxy under test).
#   ONLY=proxy measures the proxy-mode rows alone (no Node needed) and prints
#   their section, ONLY=policy the policy rows; neither can be combined with
#   --write.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
WARMUP=${WARMUP:-2s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
WRITE=0
[[ "${1:-}" == "--write" ]] && WRITE=1
ONLY=${ONLY:-}
FULL=1
case $ONLY in
  "") ;;
  proxy | policy) FULL=0 ;;
  *) echo "gate.sh: ONLY=$ONLY: want proxy, policy or nothing" >&2; exit 2 ;;
esac
if [[ $FULL -eq 0 && $WRITE -eq 1 ]]; then
  echo "gate.sh: --write needs every row: run without ONLY" >&2
  exit 2
fi
OAUTH2_PROXY_VERSION=v7.15.6

log() { printf '%s\n' "$*" >&2; }

if ! command -v wrk >/dev/null; then
  log "installing wrk"
  if [[ $(id -u) -eq 0 ]]; then apt-get install -y wrk >/dev/null; else sudo apt-get install -y wrk >/dev/null; fi
fi
TOOLS=(go taskset curl)
if [[ $FULL -eq 1 ]]; then TOOLS+=(node npm); fi
for tool in "${TOOLS[@]}"; do
  command -v "$tool" >/dev/null || { log "gate.sh: $tool is required"; exit 2; }
done

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log "building"
go build -o "$WORK/keyward" ./cmd/keyward
(cd bench && go build -o "$WORK/gatetool" ./gatetool)
if [[ $FULL -eq 1 ]]; then (cd bench/node && npm ci --no-audit --no-fund --loglevel=error >/dev/null); fi
# oauth2-proxy from the module proxy, into the scratch directory only.
O2P=1
if [[ $ONLY == policy ]]; then
  O2P=0
elif ! GOBIN="$WORK/bin" go install "github.com/oauth2-proxy/oauth2-proxy/v7@$OAUTH2_PROXY_VERSION" >"$WORK/o2p-build.log" 2>&1; then
  log "oauth2-proxy $OAUTH2_PROXY_VERSION could not be built; its rows are left out:"
  tail -5 "$WORK/o2p-build.log" >&2
  O2P=0
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
ISS=http://127.0.0.1:4400
"$WORK/gatetool" gen -dir "$WORK" -issuer "$ISS" -audience api -n 1000
taskset -c "$LOAD_CPU" "$WORK/gatetool" jwks -listen 127.0.0.1:4400 -file "$WORK/jwks.json" &
PIDS+=($!)

wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "nothing listens on port $1"; exit 1
}
wait_port 4400

RAWS="$WORK/raw.txt"
: >"$RAWS"

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# measure NAME WORKLOAD PORT PID ROUND: a warm-up run, then a measured one.
measure() {
  local name=$1 workload=$2 port=$3 pid=$4 round=$5
  local tokens="$WORK/tokens-$workload.txt" url="http://127.0.0.1:$port"
  TOKENS=$tokens taskset -c "$LOAD_CPU" wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s bench/gate.lua "$url" >/dev/null
  local c0 c1 out
  c0=$(cpu_ticks "$pid")
  out=$(TOKENS=$tokens taskset -c "$LOAD_CPU" wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/gate.lua "$url")
  c1=$(cpu_ticks "$pid")
  local rps reqs p99 non2xx
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
  non2xx=${non2xx:-0}
  local cpu_us
  cpu_us=$(awk -v d=$((c1 - c0)) -v t="$TICK" -v n="$reqs" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$workload" "$rps" "$p99" "$cpu_us" "$reqs" "$non2xx" "$round" >>"$RESULTS"
  log "$(printf 'round %s  %-14s %-9s %10s req/s  p99 %8s ms  cpu %7s µs/req  non-2xx %s/%s' "$round" "$name" "$workload" "$rps" "$p99" "$cpu_us" "$non2xx" "$reqs")"
}

# start NAME PORT CMD...: runs the server pinned to SERVER_CPU and records
# its PID and port. Idle servers cost nothing while another is measured.
declare -A PID_OF PORT_OF
start() {
  local name=$1 port=$2
  shift 2
  taskset -c "$SERVER_CPU" "$@" >"$WORK/$name.log" 2>&1 &
  PID_OF[$name]=$!
  PORT_OF[$name]=$port
  PIDS+=("$!")
  wait_port "$port"
  # One request so that servers which fetch keys lazily hold them.
  curl -s -o /dev/null -H "Authorization: Bearer $(head -1 "$WORK/tokens-repeated.txt")" "http://127.0.0.1:$port/protected" || true
}

GATE_FLAGS=(--jwks-url "$ISS/jwks.json" --issuer "$ISS" --audience api --algs RS256)
if [[ $FULL -eq 1 ]]; then
  start ceiling 4401 "$WORK/gatetool" noauth -listen 127.0.0.1:4401
  start gate 4404 "$WORK/keyward" gate --listen 127.0.0.1:4404 "${GATE_FLAGS[@]}"
  # gate-one only ever sees the repeated token: its cache holds that token alone.
  start gate-one 4410 "$WORK/keyward" gate --listen 127.0.0.1:4410 "${GATE_FLAGS[@]}"
  start gate-nocache 4405 "$WORK/keyward" gate --listen 127.0.0.1:4405 "${GATE_FLAGS[@]}" --cache-size 0
  start gate-nocache-b 4407 "$WORK/keyward" gate --listen 127.0.0.1:4407 "${GATE_FLAGS[@]}" --cache-size 0
  start gate-full 4408 "$WORK/keyward" gate --listen 127.0.0.1:4408 "${GATE_FLAGS[@]}" --cache-size 500
  start gate-full-b 4409 "$WORK/keyward" gate --listen 127.0.0.1:4409 "${GATE_FLAGS[@]}" --cache-size 500
  # Fill the gate-full caches before any row is measured.
  for port in 4408 4409; do
    TOKENS="$WORK/tokens-distinct.txt" taskset -c "$LOAD_CPU" wrk -t2 -c8 -d1s -s bench/gate.lua "http://127.0.0.1:$port" >/dev/null
  done
  start raw-check 4406 "$WORK/gatetool" rawserver -listen 127.0.0.1:4406 -dir "$WORK"
  start keyfunc 4402 "$WORK/gatetool" keyfunc -listen 127.0.0.1:4402 -jwks "$ISS/jwks.json" -issuer "$ISS" -audience api
  start node 4403 env JWKS_URL="$ISS/jwks.json" ISSUER="$ISS" AUDIENCE=api PORT=4403 node bench/node/server.js
fi

# Route policies: ten routes over two issuers, /protected decided by the
# last one.
if [[ $FULL -eq 1 || $ONLY == policy ]]; then
  cp cmd/keyward/testdata/keys/rsa2048.pub.pem "$WORK/legacy.pub.pem"
  cat >"$WORK/policy.yaml" <<YAML
issuers:
  bench:
    issuer: $ISS
    jwks-url: $ISS/jwks.json
    audiences: [api]
    algs: [RS256]
  legacy:
    issuer: http://localhost:4000
    key-files: [legacy.pub.pem]
    audiences: [api]
    algs: [RS256]
routes:
  - {name: home, path: /, methods: [GET], public: true}
  - {name: static, path: /static/*, methods: [GET], public: true}
  - {name: healthz, path: /healthz, public: true}
  - {name: orders-read, path: /orders/*, methods: [GET], any-scope: [read:orders]}
  - {name: orders-write, path: /orders/*, methods: [POST, PUT, DELETE], issuers: [bench], all-scopes: [write:orders]}
  - {name: admin, path: /admin/*, issuers: [bench], any-role: [admin]}
  - {name: reports, path: /reports/*, issuers: [legacy], any-scope: [reports]}
  - {name: me, path: /me}
  - {name: partners, path: /partners/*, claims: {tenant: {any: [acme]}}}
  - {name: protected, path: /protected, methods: [GET], issuers: [bench, legacy], any-scope: [read, write]}
YAML
  if [[ $FULL -eq 0 ]]; then
    start gate-one 4410 "$WORK/keyward" gate --listen 127.0.0.1:4410 "${GATE_FLAGS[@]}"
  fi
  start gate-policy 4417 "$WORK/keyward" gate --listen 127.0.0.1:4417 --policy "$WORK/policy.yaml"
fi

# Proxy mode: one upstream API for every proxy, on LOAD_CPU.
UP=http://127.0.0.1:4411
taskset -c "$LOAD_CPU" "$WORK/gatetool" upstream -listen 127.0.0.1:4411 &
PIDS+=($!)
wait_port 4411
start plain-proxy 4412 "$WORK/gatetool" plainproxy -listen 127.0.0.1:4412 -upstream "$UP"
start plain-proxy-pooled 4416 "$WORK/gatetool" plainproxy -listen 127.0.0.1:4416 -upstream "$UP" -pool
start gate-proxy 4413 "$WORK/keyward" gate --listen 127.0.0.1:4413 "${GATE_FLAGS[@]}" --upstream "$UP"
start gate-proxy-nocache 4414 "$WORK/keyward" gate --listen 127.0.0.1:4414 "${GATE_FLAGS[@]}" --upstream "$UP" --cache-size 0
if [[ $O2P -eq 1 ]]; then
  # Bearer-JWT mode: tokens are verified with the issuer's JWKS (no
  # discovery), aud must be the client ID; no login flow is ever used.
  start oauth2-proxy 4415 "$WORK/bin/oauth2-proxy" --http-address 127.0.0.1:4415 --upstream "$UP/" \
    --provider oidc --oidc-issuer-url "$ISS" --skip-oidc-discovery --oidc-jwks-url "$ISS/jwks.json" \
    --login-url "$ISS/authorize" --redeem-url "$ISS/token" --client-id api --client-secret unused \
    --cookie-secret 0123456789abcdef0123456789abcdef --email-domain '*' --skip-jwt-bearer-tokens \
    --request-logging=false --auth-logging=false --skip-provider-button
fi

if [[ $FULL -eq 1 ]]; then
  ROWS=("ceiling repeated" "gate-one repeated" "raw-check distinct" "gate-full distinct" "gate-full badsig")
  for n in gate gate-nocache keyfunc node; do
    for w in repeated distinct badsig; do ROWS+=("$n $w"); done
  done
else
  ROWS=()
fi
PROXY_ROWS=("plain-proxy repeated" "plain-proxy-pooled repeated" "gate-proxy repeated" "gate-proxy-nocache distinct" "gate-proxy-nocache badsig")
if [[ $O2P -eq 1 ]]; then PROXY_ROWS+=("oauth2-proxy repeated" "oauth2-proxy distinct"); fi
if [[ $ONLY == policy ]]; then
  ROWS=("gate-one repeated" "gate-policy repeated")
else
  ROWS+=("${PROXY_ROWS[@]}")
  if [[ $FULL -eq 1 ]]; then ROWS+=("gate-policy repeated"); fi
fi
for round in $(seq "$ROUNDS"); do
  taskset -c "$SERVER_CPU" "$WORK/gatetool" rawcheck -dir "$WORK" >>"$RAWS"
  log "round $round: raw RS256 check $(tail -1 "$RAWS") µs"
  # Each round starts at a different row and, every other round, goes
  # backwards.
  n=${#ROWS[@]}
  for i in $(seq 0 $((n - 1))); do
    k=$(((i + (round - 1) * 5) % n))
    ((round % 2 == 0)) && k=$((n - 1 - k))
    read -r name w <<<"${ROWS[$k]}"
    measure "$name" "$w" "${PORT_OF[$name]}" "${PID_OF[$name]}" "$round"
  done
done
# pair A WA B WB ROUND: A under workload WA and B under WB at the same time,
# both servers on SERVER_CPU and one wrk thread each on LOAD_CPU, so that
# whatever the machine does during the run falls on both alike; prints the
# CPU time per request of A and of B.
PAIRS="$WORK/pairs.tsv"
: >"$PAIRS"
pair() {
  local a=$1 wa=$2 b=$3 wb=$4 round=$5
  local pa=${PID_OF[$a]} pb=${PID_OF[$b]} oa="$WORK/pair-a.txt" ob="$WORK/pair-b.txt"
  for phase in warm run; do
    local d=$WARMUP
    [[ $phase == run ]] && d=$DURATION
    local a0 b0
    a0=$(cpu_ticks "$pa")
    b0=$(cpu_ticks "$pb")
    TOKENS="$WORK/tokens-$wa.txt" taskset -c "$LOAD_CPU" wrk -t1 -c$((CONNECTIONS / 2)) -d"$d" -s bench/gate.lua "http://127.0.0.1:${PORT_OF[$a]}" >"$oa" &
    local wa_pid=$!
    TOKENS="$WORK/tokens-$wb.txt" taskset -c "$LOAD_CPU" wrk -t1 -c$((CONNECTIONS / 2)) -d"$d" -s bench/gate.lua "http://127.0.0.1:${PORT_OF[$b]}" >"$ob"
    wait "$wa_pid"
  done
  local a1 b1 ra rb
  a1=$(cpu_ticks "$pa")
  b1=$(cpu_ticks "$pb")
  ra=$(awk '/requests in/ {print $1}' "$oa")
  rb=$(awk '/requests in/ {print $1}' "$ob")
  local ca cb
  ca=$(awk -v d=$((a1 - a0)) -v t="$TICK" -v n="$ra" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
  cb=$(awk -v d=$((b1 - b0)) -v t="$TICK" -v n="$rb" 'BEGIN {printf "%.1f", d / t * 1e6 / n}')
  printf '%s %s\t%s %s\t%s\t%s\t%s\n' "$a" "$wa" "$b" "$wb" "$ca" "$cb" "$round" >>"$PAIRS"
  log "$(printf 'pair %s: %s %s %s µs/req, %s %s %s µs/req' "$round" "$a" "$wa" "$ca" "$b" "$wb" "$cb")"
}
# gate-nocache-b is a second gate with the cache off, so that bad and valid
# tokens can be paired with the cache off too.
for round in $(seq "$ROUNDS"); do
  if [[ $FULL -eq 1 ]]; then
    pair gate-one repeated ceiling repeated "$round"
    pair gate repeated ceiling repeated "$round"
    pair gate-nocache distinct keyfunc distinct "$round"
    pair gate-nocache distinct ceiling repeated "$round"
    pair gate-nocache distinct raw-check distinct "$round"
    pair gate badsig gate-nocache distinct "$round"
    pair gate-nocache-b badsig gate-nocache distinct "$round"
    pair gate-full badsig gate-full-b distinct "$round"
  fi
  if [[ $FULL -eq 1 || $ONLY == policy ]]; then
    pair gate-policy repeated gate-one repeated "$round"
  fi
  [[ $ONLY == policy ]] && continue
  pair gate-proxy repeated plain-proxy repeated "$round"
  pair gate-proxy repeated plain-proxy-pooled repeated "$round"
  pair gate-proxy-nocache distinct plain-proxy repeated "$round"
  if [[ $O2P -eq 1 ]]; then pair oauth2-proxy repeated plain-proxy repeated "$round"; fi
done

rss() { awk '/VmHWM/ {print $2, $3}' "/proc/${PID_OF[$1]}/status"; }
PEAK_RSS=()
if [[ $FULL -eq 1 ]]; then PEAK_RSS+=("gate: $(rss gate)" "gate --cache-size 0: $(rss gate-nocache)"); fi
PEAK_RSS+=("gate-proxy: $(rss gate-proxy)" "plain-proxy: $(rss plain-proxy)")
if [[ $O2P -eq 1 ]]; then PEAK_RSS+=("oauth2-proxy: $(rss oauth2-proxy)"); fi

# Report: the median of the rounds for every figure; request counts are
# summed.
median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
RAW_US=$(median <"$RAWS")
val() {
  case $3 in
    6 | 7) awk -F'\t' -v n="$1" -v w="$2" -v c="$3" '$1 == n && $2 == w {s += $c} END {print s}' "$RESULTS" ;;
    *) awk -F'\t' -v n="$1" -v w="$2" -v c="$3" '$1 == n && $2 == w {print $c}' "$RESULTS" | median ;;
  esac
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {ok = (op == ">=") ? v >= t : v <= t; print ok ? "met" : "NOT met"}'; }

# Paired runs: per round, the ratio or difference of the two servers' CPU
# per request, then the median over the rounds.
pairval() { awk -F'\t' -v a="$1" -v b="$2" -v f="$3" '$1 == a && $2 == b {if (f == "ratio") print $4 / $3; else if (f == "diff") print $3 - $4; else if (f == "a") print $3; else print $4}' "$PAIRS" | median; }

# The policy's cost: gate-policy's CPU per request over gate-one's, per
# round.
policycost() { awk -F'\t' '$1 == "gate-policy repeated" && $2 == "gate-one repeated" {print $3 / $4}' "$PAIRS"; }
if [[ $FULL -eq 1 || $ONLY == policy ]]; then
  PL_RATIO=$(printf '%.2f' "$(policycost | median)")
  PL_SPREAD=$(policycost | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {printf "%.2f–%.2f", lo, hi}')
  PL_POLICY=$(pairval "gate-policy repeated" "gate-one repeated" a)
  PL_ONE=$(pairval "gate-policy repeated" "gate-one repeated" b)
  PL_LINE="| repeated token: ten routes and two issuers ≤ 1.05× one issuer (gate-policy against gate-one) | one ${PL_ONE} / policy ${PL_POLICY} µs: policy costs ${PL_RATIO}× | ${PL_SPREAD} | $(verdict "$PL_RATIO" "<=" 1.05) |"
fi
if [[ $ONLY == policy ]]; then
  echo "| target | paired CPU per request | spread over rounds | |"
  echo "|---|---:|---|---|"
  echo "$PL_LINE"
  exit 0
fi

if [[ $FULL -eq 1 ]]; then
  CEIL_RPS=$(val ceiling repeated 3)
  CEIL_CPU=$(val ceiling repeated 5)
  R1=$(ratio "$(val gate-one repeated 3)" "$CEIL_RPS")
  R1B=$(ratio "$(val gate repeated 3)" "$CEIL_RPS")
  R2=$(ratio "$(val gate repeated 3)" "$(val node repeated 3)")
  R3=$(ratio "$(val gate-nocache distinct 3)" "$(val keyfunc distinct 3)")
  R4=$(ratio "$(val gate-nocache distinct 3)" "$(val node distinct 3)")
  # The same ratios from CPU time per request (capacity per core), which
  # other load on the machine disturbs less than requests/s.
  C1=$(ratio "$CEIL_CPU" "$(val gate-one repeated 5)")
  C1B=$(ratio "$CEIL_CPU" "$(val gate repeated 5)")
  C2=$(ratio "$(val node repeated 5)" "$(val gate repeated 5)")
  C3=$(ratio "$(val keyfunc distinct 5)" "$(val gate-nocache distinct 5)")
  C4=$(ratio "$(val node distinct 5)" "$(val gate-nocache distinct 5)")
  CPU_LIMIT=$(awk -v c="$CEIL_CPU" -v r="$RAW_US" 'BEGIN {printf "%.1f", c + 1.1 * r}')
  CPU_GATE=$(val gate-nocache distinct 5)
  # The raw check in situ: the raw-check server's CPU per request less the
  # ceiling's.
  CPU_RAWSRV=$(val raw-check distinct 5)
  INSITU_RAW=$(awk -v a="$CPU_RAWSRV" -v c="$CEIL_CPU" 'BEGIN {printf "%.1f", a - c}')
  INSITU_LIMIT=$(awk -v r="$INSITU_RAW" 'BEGIN {printf "%.1f", 1.1 * r}')
  GATE_OVER=$(awk -v a="$CPU_GATE" -v c="$CEIL_CPU" 'BEGIN {printf "%.1f", a - c}')
  BAD_NC=$(val gate-nocache badsig 5)
  BAD_C=$(val gate badsig 5)
  FULL_OK=$(val gate-full distinct 5)
  FULL_BAD=$(val gate-full badsig 5)

  PR1_RATIO=$(printf '%.2f' "$(pairval "gate-one repeated" "ceiling repeated" ratio)")
  PR1_GATE=$(pairval "gate-one repeated" "ceiling repeated" a)
  PR1_CEIL=$(pairval "gate-one repeated" "ceiling repeated" b)
  PR1B_RATIO=$(printf '%.2f' "$(pairval "gate repeated" "ceiling repeated" ratio)")
  PR1B_GATE=$(pairval "gate repeated" "ceiling repeated" a)
  PR1B_CEIL=$(pairval "gate repeated" "ceiling repeated" b)
  PK_RATIO=$(printf '%.2f' "$(pairval "gate-nocache distinct" "keyfunc distinct" ratio)")
  PK_GATE=$(pairval "gate-nocache distinct" "keyfunc distinct" a)
  PK_KEYFUNC=$(pairval "gate-nocache distinct" "keyfunc distinct" b)
  PC_DIFF=$(printf '%.1f' "$(pairval "gate-nocache distinct" "ceiling repeated" diff)")
  PC_GATE=$(pairval "gate-nocache distinct" "ceiling repeated" a)
  PC_CEIL=$(pairval "gate-nocache distinct" "ceiling repeated" b)
  PC_LIMIT=$(awk -v r="$RAW_US" 'BEGIN {printf "%.1f", 1.1 * r}')
  # gate ≤ raw-check server + 0.1× raw check: both pay the ceiling and one
  # RSA check under the same conditions; the gate may add 0.1× raw on top.
  PR_GATE=$(pairval "gate-nocache distinct" "raw-check distinct" a)
  PR_RAW=$(pairval "gate-nocache distinct" "raw-check distinct" b)
  PR_DIFF=$(printf '%.1f' "$(pairval "gate-nocache distinct" "raw-check distinct" diff)")
  PR_LIMIT=$(awk -v r="$RAW_US" 'BEGIN {printf "%.1f", 0.1 * r}')
  PB_C_BAD=$(pairval "gate badsig" "gate-nocache distinct" a)
  PB_C_OK=$(pairval "gate badsig" "gate-nocache distinct" b)
  PB_NC_BAD=$(pairval "gate-nocache-b badsig" "gate-nocache distinct" a)
  PB_NC_OK=$(pairval "gate-nocache-b badsig" "gate-nocache distinct" b)
  PB_F_BAD=$(pairval "gate-full badsig" "gate-full-b distinct" a)
  PB_F_OK=$(pairval "gate-full badsig" "gate-full-b distinct" b)
fi

# Proxy mode.
P_PLAIN_RPS=$(val plain-proxy repeated 3)
P_PLAIN_CPU=$(val plain-proxy repeated 5)
PX1=$(ratio "$(val gate-proxy repeated 3)" "$P_PLAIN_RPS")
PX2=$(ratio "$(val gate-proxy-nocache distinct 3)" "$P_PLAIN_RPS")
PX3=$(ratio "$(val gate-proxy repeated 3)" "$(val plain-proxy-pooled repeated 3)")
CX1=$(ratio "$P_PLAIN_CPU" "$(val gate-proxy repeated 5)")
CX2=$(ratio "$P_PLAIN_CPU" "$(val gate-proxy-nocache distinct 5)")
CX3=$(ratio "$(val plain-proxy-pooled repeated 5)" "$(val gate-proxy repeated 5)")
PP1_RATIO=$(printf '%.2f' "$(pairval "gate-proxy repeated" "plain-proxy repeated" ratio)")
PP1_GATE=$(pairval "gate-proxy repeated" "plain-proxy repeated" a)
PP1_PLAIN=$(pairval "gate-proxy repeated" "plain-proxy repeated" b)
PP2_RATIO=$(printf '%.2f' "$(pairval "gate-proxy repeated" "plain-proxy-pooled repeated" ratio)")
PP2_GATE=$(pairval "gate-proxy repeated" "plain-proxy-pooled repeated" a)
PP2_PLAIN=$(pairval "gate-proxy repeated" "plain-proxy-pooled repeated" b)
PP3_RATIO=$(printf '%.2f' "$(pairval "gate-proxy-nocache distinct" "plain-proxy repeated" ratio)")
PP3_GATE=$(pairval "gate-proxy-nocache distinct" "plain-proxy repeated" a)
PP3_PLAIN=$(pairval "gate-proxy-nocache distinct" "plain-proxy repeated" b)
# The spread of the paired ratios over the rounds.
pairspread() { awk -F'\t' -v a="$1" -v b="$2" '$1 == a && $2 == b {r = $4 / $3; if (n == 0 || r < lo) lo = r; if (n == 0 || r > hi) hi = r; n++} END {printf "%.2f–%.2f", lo, hi}' "$PAIRS"; }
PP1_SPREAD=$(pairspread "gate-proxy repeated" "plain-proxy repeated")
PP2_SPREAD=$(pairspread "gate-proxy repeated" "plain-proxy-pooled repeated")
PP3_SPREAD=$(pairspread "gate-proxy-nocache distinct" "plain-proxy repeated")
if [[ $O2P -eq 1 ]]; then
  PX4=$(ratio "$(val oauth2-proxy repeated 3)" "$P_PLAIN_RPS")
  CX4=$(ratio "$P_PLAIN_CPU" "$(val oauth2-proxy repeated 5)")
  PP4_RATIO=$(printf '%.2f' "$(pairval "oauth2-proxy repeated" "plain-proxy repeated" ratio)")
  PP4_O2P=$(pairval "oauth2-proxy repeated" "plain-proxy repeated" a)
  PP4_PLAIN=$(pairval "oauth2-proxy repeated" "plain-proxy repeated" b)
  PP4_SPREAD=$(pairspread "oauth2-proxy repeated" "plain-proxy repeated")
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
REPORT="$WORK/report.md"
{
  echo "## Gate under load"
  echo
  echo "\`bench/gate.sh\` on $(date -u +%Y-%m-%d), $(nproc) cores ($(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)), $(go env GOVERSION)$([[ $FULL -eq 1 ]] && echo ", node $(node --version)")$([[ $FULL -eq 0 ]] && echo ", the proxy-mode rows alone (ONLY=proxy)")."
  echo "Loopback; the server under test pinned to CPU $SERVER_CPU (so Go runs with GOMAXPROCS=1, like single-threaded Node), wrk"
  echo "pinned to CPU $LOAD_CPU with 2 threads and $CONNECTIONS connections, $WARMUP of warm-up then $DURATION measured per row."
  echo "Every server runs from the start; the rows are measured in $ROUNDS rounds, each in another order, and every figure"
  echo "is the median of its rounds (request counts are summed), so a change in the machine's speed during the run falls"
  echo "on all servers alike. CPU is the server's user+system time over a measured run divided by the requests served."
  echo "Load average before and after the run: $LOAD_BEFORE / $LOAD_AFTER (other work on the machine inflates"
  echo "latency and lowers requests/s; CPU per request is the figure it disturbs least)."
  echo "One raw RS256 check (SHA-256 + rsa.VerifyPKCS1v15, 2048-bit) takes ${RAW_US} µs on the same core (median of the rounds)."
  echo
  echo "| server | tokens | requests/s | p99 (ms) | CPU µs/request | non-2xx |"
  echo "|---|---|---:|---:|---:|---:|"
  for row in "${ROWS[@]}"; do
    read -r n w <<<"$row"
    echo "| $n | $w | $(val "$n" "$w" 3) | $(val "$n" "$w" 4) | $(val "$n" "$w" 5) | $(val "$n" "$w" 7)/$(val "$n" "$w" 6) |"
  done
  echo
  if [[ $FULL -eq 1 ]]; then
  echo "\`gate\` is \`keyward gate\` in demo mode with its verified-token cache (10 000 entries), \`gate-nocache\` the same with"
  echo "\`--cache-size 0\`; \`gate-one\` is the gate with its cache that only ever sees the repeated token (\`gate\` serves"
  echo "the distinct tokens too, and its cache holds them); \`ceiling\` answers the same route with no authentication (its row stands for every token set);"
  echo "\`repeated\` is one token, \`distinct\` 1 000 tokens in turn, \`badsig\` 1 000 tokens with a corrupted signature (all 401)."
  echo "\`gate-full\` is the gate with a 500-entry cache that is always full and never holds the token asked for (each"
  echo "token comes back after 1 000 requests): every valid token is verified, inserted and evicts another."
  echo "\`raw-check\` is the ceiling doing one bare RS256 check per request (SHA-256 + rsa.VerifyPKCS1v15 of the token's"
  echo "signature, no parsing, no claims): its CPU less the ceiling's is the raw check in situ, under the same load."
  echo
  echo "| target | requests/s ratio | | CPU-per-request ratio | |"
  echo "|---|---:|---|---:|---|"
  echo "| repeated token: gate ≥ 0.85× the no-auth ceiling (gate-one) | ${R1}× | $(verdict "$R1" ">=" 0.85) | ${C1}× | $(verdict "$C1" ">=" 0.85) |"
  echo "| the same at \`gate\`, whose cache also holds the 1 000 distinct tokens of its other rows | ${R1B}× | information | ${C1B}× | information |"
  echo "| repeated token: gate ≥ 10× the Node recipe | ${R2}× | $(verdict "$R2" ">=" 10) | ${C2}× | $(verdict "$C2" ">=" 10) |"
  echo "| distinct tokens, cache off: gate ≥ 1.2× golang-jwt + keyfunc | ${R3}× | $(verdict "$R3" ">=" 1.2) | ${C3}× | $(verdict "$C3" ">=" 1.2) |"
  echo "| distinct tokens, cache off: gate ≥ 5× the Node recipe | ${R4}× | $(verdict "$R4" ">=" 5) | ${C4}× | $(verdict "$C4" ">=" 5) |"
  echo
  echo "| target | measured | |"
  echo "|---|---:|---|"
  echo "| distinct tokens, cache off: gate CPU ≤ ceiling + 1.1× raw check (${CPU_LIMIT} µs) | ${CPU_GATE} µs | $(verdict "$CPU_GATE" "<=" "$CPU_LIMIT") |"
  echo "| the same, with the raw check measured in situ (raw-check server − ceiling = ${INSITU_RAW} µs): gate − ceiling ≤ ${INSITU_LIMIT} µs | ${GATE_OVER} µs | $(verdict "$GATE_OVER" "<=" "$INSITU_LIMIT") |"
  echo "| bad signatures cost no more than distinct valid tokens (cache off) | ${BAD_NC} vs ${CPU_GATE} µs | $(verdict "$BAD_NC" "<=" "$CPU_GATE") |"
  echo "| bad signatures cost no more than valid tokens the cache has not seen (gate-full, same process) | ${FULL_BAD} vs ${FULL_OK} µs | $(verdict "$FULL_BAD" "<=" "$FULL_OK") |"
  echo
  echo "Paired runs, the figures least disturbed by the machine: two servers on the same core, each loaded by its own"
  echo "wrk thread ($((CONNECTIONS / 2)) connections) at the same time, $ROUNDS times; CPU per request of each, median over the rounds."
  echo
  echo "| target | paired CPU per request | |"
  echo "|---|---:|---|"
  echo "| repeated token: gate ≥ 0.85× the no-auth ceiling (gate-one) | ceiling ${PR1_CEIL} / gate ${PR1_GATE} µs = ${PR1_RATIO}× | $(verdict "$PR1_RATIO" ">=" 0.85) |"
  echo "| the same at \`gate\`, 1 000 other tokens in its cache | ceiling ${PR1B_CEIL} / gate ${PR1B_GATE} µs = ${PR1B_RATIO}× | information |"
  echo "| distinct tokens, cache off: gate ≥ 1.2× golang-jwt + keyfunc | keyfunc ${PK_KEYFUNC} / gate ${PK_GATE} µs = ${PK_RATIO}× | $(verdict "$PK_RATIO" ">=" 1.2) |"
  echo "| distinct tokens, cache off: gate CPU − ceiling CPU ≤ 1.1× raw check (${PC_LIMIT} µs) | ${PC_GATE} − ${PC_CEIL} = ${PC_DIFF} µs | $(verdict "$PC_DIFF" "<=" "$PC_LIMIT") |"
  echo "| the same against the raw-check server: gate CPU − raw-check CPU ≤ 0.1× raw check (${PR_LIMIT} µs) | ${PR_GATE} − ${PR_RAW} = ${PR_DIFF} µs | $(verdict "$PR_DIFF" "<=" "$PR_LIMIT") |"
  echo "| bad signatures (cache off) cost no more than distinct valid tokens (cache off) | ${PB_NC_BAD} vs ${PB_NC_OK} µs | $(verdict "$PB_NC_BAD" "<=" "$PB_NC_OK") |"
  echo "| bad signatures cost no more than valid tokens the cache has not seen (two gate-full) | ${PB_F_BAD} vs ${PB_F_OK} µs | $(verdict "$PB_F_BAD" "<=" "$PB_F_OK") |"
  echo
  echo "What the uncached rows pay: one RSA check (about half of the gate's CPU in a profile) plus a few"
  echo "microseconds of parsing and claims. crypto/rsa rebuilds the key's Montgomery modulus on every"
  echo "rsa.VerifyPKCS1v15, about a quarter of the raw check; package jose keeps it prepared per key (same"
  echo "arithmetic, filippo.io/bigmod), so the gate's RSA check costs about 0.73× the raw one"
  echo "(BenchmarkVerifyRatio in ./jose). golang-jwt + keyfunc and the raw-check server pay the full crypto/rsa price."
  echo "A paired run puts two servers on one core, so each also pays for the other's use of the caches; the"
  echo "gate, with the larger working set, pays more of it: compare it with the raw-check server, which pays the same."
  echo "A cache that holds tokens costs every request of its process some garbage collection: the 1 000 tokens"
  echo "cached at \`gate\` (about 1.5 KB each with their claims) make a live heap of 1.5-2 MB, under the Go runtime's"
  echo "4 MB minimum heap goal, so that process collects garbage about 1.5 times as often as one without them, and"
  echo "marks the cache each time. That is why, paired with the ceiling, the repeated token costs more at \`gate\` than"
  echo "at \`gate-one\` (the sequential rows are too noisy to show it)."
  echo "Bad signatures are compared with valid tokens under the same configuration: with the cache off, and with"
  echo "the cache on and full (gate-full, where valid tokens miss it too). Across configurations, a bad token at"
  echo "\`gate\` (cache on, 1 000 tokens cached) costs ${BAD_C} µs (paired: ${PB_C_BAD}) against ${CPU_GATE} µs (paired: ${PB_C_OK}) for a"
  echo "valid token at the cache-off gate: the difference is that upkeep of the cache, not the bad signature."
  echo "Rows of the same work done twice (gate-nocache repeated and distinct) differ by up to a third on this shared"
  echo "machine: read single ratios with that margin."
  echo
  fi
  echo "### In front of an upstream (proxy mode)"
  echo
  echo "The same upstream API (\`gatetool upstream\`, a small JSON answer on LOAD_CPU) behind \`plain-proxy\`, an"
  echo "\`httputil.ReverseProxy\` with no authentication as its documentation shows it (Rewrite with SetURL and"
  echo "SetXForwarded, the gate's upstream connection pool); \`plain-proxy-pooled\`, the same with a pool of 32 KiB"
  echo "copy buffers, as the gate has (without one, ReverseProxy allocates and clears one for every request);"
  echo "\`gate-proxy\`, \`keyward gate --upstream\` with its cache, and \`gate-proxy-nocache\` with \`--cache-size 0\`"
  if [[ $O2P -eq 1 ]]; then
    echo "(both strip client X-Auth-* headers and add X-Auth-Subject, X-Auth-Scope, X-Auth-Claims and X-Request-Id);"
    echo "\`oauth2-proxy\`, oauth2-proxy $OAUTH2_PROXY_VERSION in bearer-JWT mode (\`--skip-jwt-bearer-tokens\`, JWKS of the same issuer)."
  else
    echo "(both strip client X-Auth-* headers and add X-Auth-Subject, X-Auth-Scope, X-Auth-Claims and X-Request-Id)."
    echo "oauth2-proxy $OAUTH2_PROXY_VERSION could not be built on this machine: its rows are left out."
  fi
  echo "CPU is the proxy process's alone."
  echo
  echo "| target | requests/s ratio | | CPU-per-request ratio | |"
  echo "|---|---:|---|---:|---|"
  echo "| repeated token: gate-proxy ≥ 0.9× plain-proxy | ${PX1}× | $(verdict "$PX1" ">=" 0.9) | ${CX1}× | $(verdict "$CX1" ">=" 0.9) |"
  echo "| distinct tokens, cache off: gate-proxy-nocache ≥ 0.75× plain-proxy | ${PX2}× | $(verdict "$PX2" ">=" 0.75) | ${CX2}× | $(verdict "$CX2" ">=" 0.75) |"
  echo "| repeated token: gate-proxy against plain-proxy-pooled (the cost of authentication alone) | ${PX3}× | information | ${CX3}× | information |"
  if [[ $O2P -eq 1 ]]; then echo "| repeated token: oauth2-proxy against plain-proxy | ${PX4}× | information | ${CX4}× | information |"; fi
  echo
  echo "Paired runs: the two proxies on the same core at the same time, each loaded by its own wrk thread, $ROUNDS times;"
  echo "CPU per request of each, median over the rounds, and the range of the rounds' ratios."
  echo
  echo "| target | paired CPU per request | rounds | |"
  echo "|---|---:|---:|---|"
  echo "| repeated token: gate-proxy ≥ 0.9× plain-proxy | plain ${PP1_PLAIN} / gate ${PP1_GATE} µs = ${PP1_RATIO}× | ${PP1_SPREAD} | $(verdict "$PP1_RATIO" ">=" 0.9) |"
  if [[ $FULL -eq 1 ]]; then echo "$PL_LINE"; fi
  echo "| distinct tokens, cache off: gate-proxy-nocache ≥ 0.75× plain-proxy | plain ${PP3_PLAIN} / gate ${PP3_GATE} µs = ${PP3_RATIO}× | ${PP3_SPREAD} | $(verdict "$PP3_RATIO" ">=" 0.75) |"
  echo "| repeated token: gate-proxy against plain-proxy-pooled | pooled ${PP2_PLAIN} / gate ${PP2_GATE} µs = ${PP2_RATIO}× | ${PP2_SPREAD} | information |"
  if [[ $O2P -eq 1 ]]; then echo "| repeated token: oauth2-proxy against plain-proxy | plain ${PP4_PLAIN} / oauth2-proxy ${PP4_O2P} µs = ${PP4_RATIO}× | ${PP4_SPREAD} | information |"; fi
  echo
  echo "\`go test -bench BenchmarkProxyRatio ./gate/\` gives the same comparison without the network servers: the"
  echo "handlers take turns in one process, each charged the process's CPU time."
  echo
  echo "Peak RSS (VmHWM): $(IFS=';'; echo "${PEAK_RSS[*]}" | sed 's/;/; /g')."
  echo
  echo "Rerun: \`bench/gate.sh --write\` (needs Go, Node and npm; installs wrk with apt-get when it is missing;"
  echo "builds oauth2-proxy $OAUTH2_PROXY_VERSION with \`go install\` into a scratch directory). \`ONLY=proxy bench/gate.sh\` runs the proxy rows alone."
} >"$REPORT"
cat "$REPORT"

if [[ $WRITE -eq 1 ]]; then
  DOC=docs/performance.md
  [[ -f $DOC ]] || printf '# Performance\n' >"$DOC"
  # Replace this script's section, or append it; other sections stay as they are.
  awk -v report="$REPORT" '
    /^## Gate under load/ { skip = 1; while ((getline line < report) > 0) print line; done = 1; next }
    skip && /^## / { skip = 0 }
    !skip { print }
    END { if (!done) { print ""; while ((getline line < report) > 0) print line } }
  ' "$DOC" >"$WORK/doc.md"
  cp "$WORK/doc.md" "$DOC"
  log "wrote $DOC"
fi
