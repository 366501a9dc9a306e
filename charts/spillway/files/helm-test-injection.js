// `helm test`: run with `node -e` in the check container of the test pod (templates/tests/), which
// is labelled for injection. The injected sidecar shares the pod's network: its admin port answers
// on 127.0.0.1. Exit 0 when it answers as a Spillway sidecar, 1 (with the reason) when nothing
// does within the timeout: the pod was not injected.
const port = Number(process.env.SPILLWAY_ADMIN_PORT);
const timeoutMs = Number(process.env.SPILLWAY_TEST_TIMEOUT_SECONDS) * 1000;
const base = `http://127.0.0.1:${port}`;

async function check() {
  const health = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(3000) });
  if (health.status !== 200) throw new Error(`/healthz answered ${health.status}`);
  const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(3000) });
  const text = await metrics.text();
  if (metrics.status !== 200 || !/^spillway_/m.test(text)) throw new Error('/metrics has no spillway_ series');
}

(async () => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      console.log(`ok: the Spillway sidecar answers on ${base} (/healthz, /metrics)`);
      return;
    } catch (err) {
      if (Date.now() >= deadline) {
        const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        console.error(`no Spillway sidecar on ${base} after ${timeoutMs / 1000}s (${why}): the pod was not injected. ` +
          'Check the webhook (its caBundle, webhook.namespaceSelector, the operator log) and docs/injection.md.');
        process.exit(1);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
})();
