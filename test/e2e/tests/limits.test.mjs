// Limits from a Caddyfile `limits` block, seen by the official client:
// a full server refuses new connections until one leaves (the client's own
// reconnection gets in), a second namespace beyond max_namespaces gets
// connect_error, and a flooder is cut off with "io server disconnect".
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startCaddy, within, waitUntil } from "../lib/caddy.mjs";
import { connect, WAIT } from "../lib/client.mjs";

const config = `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	socketio {
		limits {
			max_connections 2
			max_namespaces 1
			event_rate 50 20
		}
		namespace /system {
		}
	}
	respond "limits" 200
}
`;

let caddy;
before(async () => { caddy = await startCaddy({ caddyfileText: config }); });
after(async () => { await caddy?.stop(); });

for (const mode of ["websocket", "polling"]) {
  test(`a full server refuses, then admits the retrying client (${mode})`, async () => {
    const opts = { transports: [mode] };
    const a = await connect(caddy.url, opts);
    const b = await connect(caddy.url, opts);
    const errors = [];
    // The client's own reconnection, fast so the test stays short.
    const c = io(caddy.url, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, timeout: WAIT, ...opts });
    c.on("connect_error", (e) => errors.push(e.message));
    try {
      await waitUntil(WAIT, () => errors.length >= 2, "two refusals");
      assert.equal(c.connected, false);
      a.disconnect();
      await within(WAIT, new Promise((r) => (c.connected ? r() : c.once("connect", r))), "admitted after a slot freed");
      assert.ok(b.connected);
    } finally {
      a.disconnect();
      b.disconnect();
      c.disconnect();
    }
    await waitUntil(WAIT, async () => {
      const m = await caddy.metrics();
      return /caddy_socketio_limit_hits_total\{hub="\/socket\.io\/",limit="connections"\} [1-9]/.test(m);
    }, "limit_hits_total{limit=connections} counted");
    // The next test needs the slots back.
    await waitUntil(WAIT, async () => /caddy_socketio_sessions\{hub="\/socket\.io\/"\} 0\b/.test(await caddy.metrics()), "sessions closed");
  });
}

test("a second namespace beyond max_namespaces gets connect_error", async () => {
  const root = await connect(caddy.url, { transports: ["websocket"] });
  try {
    // Another socket on the same Manager, so on the same connection.
    const sys = root.io.socket("/system");
    const err = await within(WAIT, new Promise((resolve) => {
      sys.once("connect_error", resolve);
      sys.connect();
    }), "connect_error");
    assert.equal(err.message, "Too many namespaces");
    assert.ok(root.connected);
    sys.disconnect();
  } finally {
    root.disconnect();
  }
});

test("a flooder is cut off with io server disconnect", async () => {
  const calm = await connect(caddy.url, { transports: ["websocket"] });
  const flood = await connect(caddy.url, { transports: ["websocket"] });
  try {
    const reason = within(WAIT, new Promise((r) => flood.once("disconnect", r)), "flooder disconnected");
    for (let i = 0; i < 200; i++) flood.emit("spam", i);
    assert.equal(await reason, "io server disconnect");
    assert.ok(calm.connected);
  } finally {
    calm.disconnect();
    flood.disconnect();
  }
});
