#!/usr/bin/env bash
# The kind recipe of docs/install.md as a script: a kind cluster, the image built and loaded,
# `helm install` of charts/spillway with the webhook on, the example workload and policy, then
# checks that the sidecar was injected and the policy is Programmed. Needs docker (with a
# running engine), kind, kubectl and helm; without them it says what is missing and exits 2.
#
#   e2e/kind/install.sh                      # cluster "spillway", left running for a look around
#   SPILLWAY_KIND_CLEANUP=1 e2e/kind/install.sh   # delete the cluster at the end, pass or fail
#
# Env: KIND_CLUSTER (spillway), IMAGE (spillway:dev), HELM (helm, else .tmp/bin/helm that the
# chart tests extract), TIMEOUT (5m: each wait).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="${KIND_CLUSTER:-spillway}"
IMAGE="${IMAGE:-spillway:dev}"
TIMEOUT="${TIMEOUT:-5m}"
RELEASE=spillway
NS=spillway-system
CTX="kind-${CLUSTER}"

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

HELM="${HELM:-helm}"
if ! command -v "$HELM" >/dev/null 2>&1 && [ -x "$ROOT/.tmp/bin/helm" ]; then HELM="$ROOT/.tmp/bin/helm"; fi

missing=()
for tool in docker kind kubectl "$HELM"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "e2e/kind/install.sh: not run: missing ${missing[*]} (needs docker, kind, kubectl and helm)." >&2
  echo "Here the same install is checked against the API-server double: e2e/helm-install.test.ts." >&2
  exit 2
fi
if ! docker info >/dev/null 2>&1; then
  echo "e2e/kind/install.sh: not run: docker is installed but no engine answers (docker info failed)." >&2
  exit 2
fi

if [ "${SPILLWAY_KIND_CLEANUP:-}" = 1 ]; then
  trap 'step "deleting kind cluster $CLUSTER"; kind delete cluster --name "$CLUSTER"' EXIT
fi
k() { kubectl --context "$CTX" "$@"; }

step "kind cluster $CLUSTER"
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  echo "exists, reusing it"
else
  kind create cluster --name "$CLUSTER" --wait "$TIMEOUT"
fi

step "image $IMAGE: build and load into the cluster"
docker build -t "$IMAGE" "$ROOT"
kind load docker-image "$IMAGE" --name "$CLUSTER"

step "helm install $RELEASE (namespace $NS)"
# Defaults (sidecar injection included) plus the local image, never pulled.
"$HELM" upgrade --install "$RELEASE" "$ROOT/charts/spillway" --kube-context "$CTX" \
  --namespace "$NS" --create-namespace --wait --timeout "$TIMEOUT" \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never
k -n "$NS" rollout status "deploy/$RELEASE-operator" --timeout "$TIMEOUT"
k -n "$NS" get pods -o wide

step "leader election and webhook certificate"
holder=""
for _ in $(seq 1 60); do
  holder="$(k -n "$NS" get lease "$RELEASE-operator" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
  [ -n "$holder" ] && break
  sleep 2
done
[ -n "$holder" ] || fail "no operator holds Lease $NS/$RELEASE-operator"
echo "leader: $holder"
# Pods created before the operator patched the caBundle would be admitted without a sidecar
# (failurePolicy Ignore): wait for it before creating the workload.
ca=""
for _ in $(seq 1 60); do
  ca="$(k get mutatingwebhookconfiguration "$RELEASE-webhook" -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null || true)"
  [ -n "$ca" ] && break
  sleep 2
done
[ -n "$ca" ] || fail "the operator did not patch the caBundle of MutatingWebhookConfiguration $RELEASE-webhook"
echo "caBundle patched (${#ca} base64 characters)"

step "examples/chat-policy.yaml, then the workload talk/chat (labelled for injection)"
k create namespace talk --dry-run=client -o yaml | k apply -f -
# The policy first: the operator makes the workload's Redis user and Secret (spillway-redis-chat)
# before its pods exist, so their sidecars start with it (redis.workloadUsers, docs/security.md).
k apply -f "$ROOT/examples/chat-policy.yaml"
k -n talk wait --for=create secret/spillway-redis-chat --timeout "$TIMEOUT" || fail "no Secret talk/spillway-redis-chat from the operator"
k apply -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: { name: chat, namespace: talk }
spec:
  replicas: 2
  selector: { matchLabels: { app: chat } }
  template:
    metadata: { labels: { app: chat, spillway.io/inject: "true" } }
    spec:
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
          ports: [{ name: http, containerPort: 8080 }]
EOF

step "checks"
k -n talk wait --for=condition=Programmed tp/chat --timeout "$TIMEOUT" || fail "TrafficPolicy talk/chat not Programmed"
k -n talk get tp
k -n talk rollout status deploy/chat --timeout "$TIMEOUT" || fail "chat did not become ready (the sidecar's readiness needs its config)"
pod="$(k -n talk get pod -l app=chat -o jsonpath='{.items[0].metadata.name}')"
sidecar="$(k -n talk get pod "$pod" -o jsonpath='{range .spec.initContainers[?(@.name=="spillway")]}{.name} {.restartPolicy}{end}')"
[ "$sidecar" = "spillway Always" ] || fail "pod talk/$pod has no native sidecar 'spillway' (init container with restartPolicy Always): got '$sidecar'"
echo "pod talk/$pod: native sidecar injected, config key $(k -n talk get pod "$pod" -o jsonpath='{.metadata.annotations.spillway\.io/injected}')"
key="$(k -n "$NS" exec "deploy/$RELEASE-redis" -- sh -c 'REDISCLI_AUTH="$SPILLWAY_OPERATOR_PASSWORD" redis-cli --user spillway-operator get spillway:config:talk/chat')"
[ -n "$key" ] || fail "no spillway:config:talk/chat in the bundled Redis"
echo "Redis spillway:config:talk/chat: ${#key} bytes"

step "helm test: a labelled pod in namespace default gets the sidecar and completes"
"$HELM" test "$RELEASE" --kube-context "$CTX" --namespace "$NS" --timeout "$TIMEOUT" --logs || fail "helm test $RELEASE failed"

step "PASS: operator, webhook and policy work on kind cluster $CLUSTER"
[ "${SPILLWAY_KIND_CLEANUP:-}" = 1 ] || echo "delete it with: kind delete cluster --name $CLUSTER"
