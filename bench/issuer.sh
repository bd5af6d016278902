#!/bin/sh
# issuer.sh measures the issuer: access tokens issued per second through the
# client_credentials grant next to the raw signing rate of the same algorithm
# (jose.Signer and the standard library alone), and refresh-token rotations
# per second on SQLite. Every figure is the median of COUNT runs made in this
# one invocation, so ratios compare runs made under the same load.
#
# Usage: bench/issuer.sh [COUNT] [BENCHTIME]     (defaults: 5 and 1s)
# Targets: RS256 issuance >= 0.7x the raw (stdlib) RS256 signing rate;
#          refresh >= 1000/s on SQLite.
set -eu
cd "$(dirname "$0")/.."
count=${1:-5}
benchtime=${2:-1s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench '^(BenchmarkIssue|BenchmarkRefreshSQLite)$' \
	-count "$count" -benchtime "$benchtime" ./issuer | tee "$out"

echo
awk '
function median(name,   n, i, j, t, a) {
	n = cnt[name]
	for (i = 1; i <= n; i++) a[i] = val[name, i]
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark/, "", name)
	for (i = 2; i < NF; i++) if ($(i + 1) ~ /\/s$/) { cnt[name]++; val[name, cnt[name]] = $i }
}
END {
	printf "%-10s %14s %14s %14s %12s %12s\n", "alg", "issued/s", "jose sign/s", "stdlib sign/s", "vs jose", "vs stdlib"
	split("ES256 EdDSA RS256", algs, " ")
	for (k = 1; k <= 3; k++) {
		a = algs[k]
		i = median("Issue/" a "/client_credentials"); j = median("Issue/" a "/jose_sign"); s = median("Issue/" a "/stdlib_sign")
		printf "%-10s %14.0f %14.0f %14.0f %11.2fx %11.2fx\n", a, i, j, s, i / j, i / s
	}
	r = median("RefreshSQLite")
	printf "\nrefresh on SQLite: %.0f/s (target >= 1000/s)\n", r
	rs = median("Issue/RS256/client_credentials") / median("Issue/RS256/stdlib_sign")
	printf "RS256 issuance / raw signing: %.2fx (target >= 0.70x)\n", rs
	if (rs < 0.7 || r < 1000) { print "BELOW TARGET"; exit 1 }
}' "$out"
