// Stopping Caddy closes the hub at once: clients on both transports get a
// clean close, and a held long-poll does not keep the process alive until
// the next ping (25s in Caddyfile.example).
import { test } from "node:test";
import assert from "node:assert/strict";
import { startCaddy, waitUntil } from "../lib/caddy.mjs";
import { connect, record } from "../lib/client.mjs";

test("stop closes every client and exits promptly", async () => {
  const caddy = await startCaddy();
  let stopped = false;
  try {
    const ws = await connect(caddy.url, { transports: ["websocket"] });
    const poll = await connect(caddy.url, { transports: ["polling"] });
    const closes = [ws, poll].map((s) => record(s, "disconnect"));
    await new Promise((r) => setTimeout(r, 200)); // let the polling client's GET be held

    const ms = await caddy.stop();
    stopped = true;
    console.log(`# caddy stopped in ${ms} ms`);
    assert.ok(ms < 5_000, `stop took ${ms} ms`);
    await waitUntil(5_000, () => closes.every((c) => c.length === 1), "both clients to see the close");
    for (const c of closes) assert.equal(c[0][0], "transport close");
  } finally {
    if (!stopped) await caddy.stop();
  }
});
