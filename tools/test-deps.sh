#!/bin/sh
# The programs the test suite runs, and the Debian packages that provide them: the one list.
# `npm test` runs this first (the `pretest` script), and so does .ci/run through `npm test`.
# Missing ones: as root, installed with apt-get; otherwise the exact apt-get line is printed and
# the script exits 1, before any test runs.
set -eu

need=""
want() { # want <package> <test>...: <package> is needed unless the test succeeds
  pkg=$1
  shift
  "$@" >/dev/null 2>&1 || need="$need $pkg"
}
has() { command -v "$1"; }

want redis-server has redis-server            # Redis for config, dedup, the operator
want redis-sentinel has redis-sentinel        # Redis Sentinel failover (test/support/redis-topology.ts)
want openssl has openssl                      # the private CA of the TLS Redis suites
want haproxy has haproxy                      # scenario and benchmark-harness peer
want nginx-light has nginx                    # benchmark-harness peer
want prometheus has promtool                  # alert and recording rules, PromQL checks
want gcc has cc                               # compiles librdkafka's mock Kafka cluster
want librdkafka-dev test -f /usr/include/librdkafka/rdkafka_mock.h
want unzip has unzip                          # test/support/helm.ts extracts helm from its npm package
want wrk has wrk                              # benchmark-harness smoke test
want curl has curl                            # a real HTTP client through the sidecar

# kubectl is not a Debian package; the e2e suites drive it against the API-server double.
kubectl=ok
if ! has kubectl >/dev/null 2>&1; then
  echo "test-deps: kubectl not found: install it (https://kubernetes.io/docs/tasks/tools/), the e2e suites need it" >&2
  kubectl=missing
fi

if [ -n "$need" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test-deps: the tests need Debian packages that are missing; install them with:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends$need" >&2
    exit 1
  fi
  echo "test-deps: installing$need" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086 # one word per package
  apt-get install -y -qq --no-install-recommends $need
fi
[ "$kubectl" = ok ]
