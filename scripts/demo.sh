#!/usr/bin/env bash
# The main job, end to end: two local clusters, a Git repository made from
# examples/quickstart, the sailplan daemon following it, and a weight change
# that must arrive in both clusters. Exits non-zero if anything does not arrive.
set -euo pipefail
cd "$(dirname "$0")/.."

root=$PWD
work=$root/.demo
sailplan=$root/bin/sailplan
kubeenv="go run ./testenv/cmd/kubeenv"
daemon=""
meshlab=""

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

cleanup() {
	code=$?
	if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
	if [ -n "$meshlab" ]; then kill "$meshlab" 2>/dev/null || true; wait "$meshlab" 2>/dev/null || true; fi
	say "tearing down"
	$kubeenv down -dir "$work/kubeenv" || true
	rm -rf "$work/repo"
	if [ $code -eq 0 ]; then say "demo passed"; else say "demo FAILED (exit $code); daemon log: $work/sailplan.log"; fi
	exit $code
}
trap cleanup EXIT

mkdir -p "$work"
say "starting two local clusters (c1, c2): etcd + kube-apiserver + Istio CRDs each"
$kubeenv up -n 2 -dir "$work/kubeenv"
export KUBECONFIG=$work/kubeenv/kubeconfig
kubectl=$(./scripts/kubectl.sh)

say "making a Git repository from examples/quickstart"
rm -rf "$work/repo" && mkdir -p "$work/repo"
cp -r examples/quickstart/. "$work/repo/"
git -C "$work/repo" init -q -b main
git -C "$work/repo" add -A
git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com commit -qm "reviews: 90/10"
git -C "$work/repo" log --oneline

say "starting meshlab: Istio-shaped metrics for reviews v2 (50 requests/s, healthy) and a real Prometheus scraping them"
rm -rf "$work/meshlab"
go build -o "$work/meshlab-bin" ./testenv/cmd/meshlab
"$work/meshlab-bin" -dir "$work/meshlab" -service reviews -namespace default -version v2 -rps 50 >"$work/meshlab.out" 2>&1 &
meshlab=$!
prometheus=""
for _ in $(seq 1 120); do
	prometheus=$(sed -n 's/^prometheus //p' "$work/meshlab.out")
	[ -n "$prometheus" ] && break
	kill -0 "$meshlab" 2>/dev/null || { cat "$work/meshlab.out" >&2; exit 1; }
	sleep 0.5
done
[ -n "$prometheus" ] || { echo "meshlab did not start Prometheus" >&2; cat "$work/meshlab.out" >&2; exit 1; }
echo "Prometheus at $prometheus"

say "running: sailplan run --repo file://$work/repo --interval 1s --home-context c1 --prometheus-url $prometheus"
"$sailplan" run --repo "file://$work/repo" --interval 1s --listen 127.0.0.1:0 \
	--home-context c1 --prometheus-url "$prometheus" --promote-interval 1s --lease-duration 5s \
	--slack-channel "${SAILPLAN_SLACK_CHANNEL:-#sailplan-demo}" \
	>"$work/sailplan.log" 2>&1 &
daemon=$!
page=""
for _ in $(seq 1 120); do
	page=$(sed -n 's/.*msg="sailplan running".* listen=\([^ ]*\).*/\1/p' "$work/sailplan.log")
	[ -n "$page" ] && break
	kill -0 "$daemon" 2>/dev/null || { cat "$work/sailplan.log" >&2; exit 1; }
	sleep 0.5
done
[ -n "$page" ] || { echo "the daemon did not start serving" >&2; cat "$work/sailplan.log" >&2; exit 1; }
say "the live page of the fleet: http://$page/ (open it now: it follows everything below, until the canary is promoted)"

# weights CLUSTER: the default route's v1/v2 weights as the apiserver has them.
weights() {
	"$kubectl" --context "$1" get virtualservice reviews -n default \
		-o jsonpath='{range .spec.http[-1:].route[*]}{.destination.subset}={.weight}{" "}{end}' 2>/dev/null || true
}

# wait_for WANT: until both clusters serve WANT, or fail after 60 s.
wait_for() {
	for _ in $(seq 1 120); do
		if [ "$(weights c1)" = "$1" ] && [ "$(weights c2)" = "$1" ]; then return 0; fi
		sleep 0.5
	done
	echo "weights did not arrive: want '$1', c1 has '$(weights c1)', c2 has '$(weights c2)'" >&2
	cat "$work/sailplan.log" >&2
	return 1
}

show() {
	for c in c1 c2; do
		say "cluster $c: VirtualServices and DestinationRules (read back from its apiserver)"
		"$kubectl" --context "$c" get virtualservices,destinationrules -n default
		"$kubectl" --context "$c" get virtualservice reviews -n default -o yaml |
			sed -n '/^spec:/,$p'
		"$kubectl" --context "$c" get destinationrule reviews -n default -o jsonpath='{"DestinationRule subsets: "}{.spec.subsets[*].name}{"\n"}'
	done
}

wait_for "v1=90 v2=10 "
show

say "committing a weight change: 50/50"
sed -i 's/{v1: 90, v2: 10}/{v1: 50, v2: 50}/' "$work/repo/reviews.cue"
git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com commit -qam "reviews: 50/50"
git -C "$work/repo" log --oneline -1
wait_for "v1=50 v2=50 "
show

say "sailplan status: what the fleet is doing, read from the clusters themselves"
"$sailplan" status

say "committing a mistake: weights that add up to 90 (nothing may change anywhere)"
sed -i 's/{v1: 50, v2: 50}/{v1: 40, v2: 50}/' "$work/repo/reviews.cue"
git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com commit -qam "reviews: 40/50"
bad=$(git -C "$work/repo" rev-parse --short HEAD)
for _ in $(seq 1 120); do
	"$sailplan" status -o json 2>/dev/null | grep -q '"fate": "rejected"' && break
	sleep 0.5
done
# Exit 1: the newest commit is not applied.
if out=$("$sailplan" status); then echo "status says healthy with a rejected head" >&2; exit 1; fi
echo "$out"
grep -q "HEAD     $bad .*rejected" <<<"$out" || { echo "status does not show $bad rejected" >&2; exit 1; }
wait_for "v1=50 v2=50 "

say "committing a canary plan: v2 takes 20, 50, 100 % of the default route, a step every 5 s, gated by Prometheus"
cat >"$work/repo/reviews.cue" <<'CUE'
package intents

services: reviews: {
	namespace: "default"
	versions: {
		v1: labels: version: "v1"
		v2: labels: version: "v2"
	}
	routes: [
		{match: [{headers: "x-canary": exact: "true"}], to: v2: 100},
		// No `to`: the canary plan moves this route.
		{},
	]
	canary: {
		stable: "v1", candidate: "v2"
		steps: [20, 50, 100]
		every: "5s"
		analysis: {successRate: 99, latencyP99: "100ms", minRequests: 20}
	}
}
CUE
git -C "$work/repo" -c user.name=demo -c user.email=demo@example.com commit -qam "reviews: canary v2"
git -C "$work/repo" log --oneline -1

say "watching the canary: c1 is wave 1, c2 follows one interval later (weights read back from each apiserver; live at http://$page/)"
last=""
for _ in $(seq 1 480); do
	now="c1: $(weights c1)| c2: $(weights c2)"
	if [ "$now" != "$last" ]; then echo "$(date +%T)  $now"; last=$now; fi
	if "$sailplan" promote status reviews --context c1 2>/dev/null | grep -q Promoted; then break; fi
	sleep 0.25
done
"$sailplan" promote status reviews --context c1
"$sailplan" promote status reviews --context c1 | grep -q Promoted || { echo "the canary was not promoted" >&2; exit 1; }
[ "$(weights c1)" = "v2=100 " ] && [ "$(weights c2)" = "v2=100 " ] || { echo "v2 does not serve all traffic in both clusters" >&2; exit 1; }

say "what the daemon logged"
grep -E 'applied|synced|rejected|promotion' "$work/sailplan.log" | grep -v 'action=unchanged\|slack' || true

if [ -n "${SAILPLAN_SLACK_TOKEN:-}" ]; then
	say "Slack: the messages went to ${SAILPLAN_SLACK_CHANNEL:-#sailplan-demo}"
else
	say "Slack: no SAILPLAN_SLACK_TOKEN, so this is what would have been sent"
	grep 'slack message not sent' "$work/sailplan.log" | sed 's/^.*kind=/kind=/' | cut -c1-220 || true
fi
