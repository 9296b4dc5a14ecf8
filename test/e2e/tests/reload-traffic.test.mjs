// A reload every second for 30 s (RELOAD_TRAFFIC_SECONDS) under chat
// traffic, with websocket-only, polling-only and polling-then-upgrade
// clients of the official client: every message reaches every room member
// exactly once and in order, and a client that saw its transport drop comes
// back with socket.recovered === true (connection state recovery is on by
// default in Caddy).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCaddy, exampleText, waitUntil, sleep } from "../lib/caddy.mjs";
import { connect, emitAck, record } from "../lib/client.mjs";

const SECONDS = Number(process.env.RELOAD_TRAFFIC_SECONDS || 30);
const MODES = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: { transports: ["polling", "websocket"] },
};
const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 1000 };

function config(greeting) {
  const text = exampleText();
  const from = "greet hello `{\"message\":\"Welcome to Socket io ~\"}`";
  assert.ok(text.includes(from), "Caddyfile.example no longer has its greeting");
  return text.replace(from, `greet hello \`{"message":"${greeting}"}\``);
}

let caddy;
before(async () => { caddy = await startCaddy({ caddyfileText: config("v0") }); });
after(async () => { await caddy?.stop(); });

test(`reload every second for ${SECONDS} s under chat traffic loses nothing`, { timeout: (SECONDS + 90) * 1000 }, async () => {
  const clients = [];
  try {
    for (const [mode, opts] of Object.entries(MODES)) {
      for (let i = 0; i < 3; i++) {
        const s = await connect(caddy.url, { ...opts, ...RECONNECT });
        const c = { name: `${mode}-${i}`, s, got: record(s, "chatMessage"), drops: 0, reconnects: [] };
        s.on("disconnect", () => c.drops++);
        s.on("connect", () => c.reconnects.push(s.recovered === true));
        clients.push(c);
        assert.equal(await emitAck(s, "joinRoom", { room: "traffic" }), "traffic");
      }
    }
    const sender = await connect(caddy.url, { transports: ["websocket"], ...RECONNECT });
    assert.equal(await emitAck(sender, "joinRoom", { room: "traffic" }), "traffic");

    let n = 0;
    const timer = setInterval(() => sender.emit("chatInput", { nick: "s", msg: ++n }), 50);
    let reloads = 0;
    try {
      const end = Date.now() + SECONDS * 1000;
      while (Date.now() < end) {
        await sleep(1000);
        await caddy.reload(config(`v${++reloads}`));
      }
    } finally {
      clearInterval(timer);
    }
    const total = n;
    await waitUntil(60_000, () => clients.every((c) => c.got.length >= total && c.s.connected),
      `every client receives all ${total} messages`);
    await sleep(500);

    const want = Array.from({ length: total }, (_, i) => i + 1);
    let dropped = 0;
    for (const c of clients) {
      const seen = c.got.map((args) => args[0].msg);
      assert.deepEqual(seen, want, `${c.name}: every message once, in order`);
      if (c.drops > 0) {
        dropped++;
        assert.deepEqual(c.reconnects, c.reconnects.map(() => true), `${c.name}: recovered after each of its ${c.drops} drops`);
      }
    }
    console.log(`# ${reloads} reloads, ${total} messages to ${clients.length} clients; ${dropped} clients saw a transport drop and recovered`);
  } finally {
    for (const c of clients) c.s.disconnect();
  }
});
