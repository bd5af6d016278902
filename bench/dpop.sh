#!/usr/bin/env bash
# DPoP at the gate: BenchmarkDPoPRatio (gate/dpop_bench_test.go) COUNT times,
# then the median and the range of its figures over the runs. In each run
# the gate (proxy mode, DPoP allowed, an upstream answered in process)
# serves, in turn, batches of Bearer requests, DPoP requests (a fresh ES256
# proof each, with an ES256 token of the same issuer) and Bearer requests
# each followed by a bare ES256 check (SHA-256 + ecdsa.VerifyASN1, the raw
# check in situ), each batch charged the process's CPU time; with the
# verified-token cache ("cached") and without it ("uncached").
#
# Targets (issue 19, acceptance 3):
#   uncached  dpop/bearer        <= 2.1  (a DPoP request against a Bearer one)
#   cached    (dpop-bearer)/raw  <= 1.1  (what DPoP adds, in raw ES256 checks)
#
# Usage: bench/dpop.sh           Environment: COUNT (5), BENCHTIME (300x).
set -euo pipefail

cd "$(dirname "$0")/.."
COUNT=${COUNT:-5}
BENCHTIME=${BENCHTIME:-300x}

echo "go test -run '^\$' -bench BenchmarkDPoPRatio -benchtime $BENCHTIME -count $COUNT ./gate/"
echo "$(date -u +%Y-%m-%d), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(go env GOVERSION), load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(go test -run '^$' -bench BenchmarkDPoPRatio -benchtime "$BENCHTIME" -count "$COUNT" ./gate/)
echo "$out" | grep '^BenchmarkDPoPRatio' | awk '
{
	mode = $1; sub(/^BenchmarkDPoPRatio\//, "", mode); sub(/-[0-9]+$/, "", mode)
	for (i = 3; i < NF; i += 2) { v[mode, $(i+1), ++n[mode, $(i+1)]] = $i; units[$(i+1)] = 1 }
	modes[mode] = 1
}
function median(mode, u,   k, m, a, i, j, t) {
	m = n[mode, u]
	for (i = 1; i <= m; i++) a[i] = v[mode, u, i]
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	lo = a[1]; hi = a[m]
	return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
END {
	split("bearer-cpu-ns/req dpop-cpu-ns/req raw-es256-cpu-ns dpop/bearer (dpop-bearer)/raw", order, " ")
	printf "| mode | figure | median | range |\n|---|---|---:|---:|\n"
	for (mode in modes) for (k = 1; k <= 5; k++) {
		u = order[k]
		if (!n[mode, u]) continue
		med = median(mode, u)
		if (u ~ /ns/) printf "| %s | %s | %.1f µs | %.1f–%.1f µs |\n", mode, u, med / 1000, lo / 1000, hi / 1000
		else printf "| %s | %s | %.3f | %.3f–%.3f |\n", mode, u, med, lo, hi
	}
}'
