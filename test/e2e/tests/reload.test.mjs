// A config reload through the admin API (POST /load) keeps live
// connections, rooms and broadcasts, and applies the new settings: a new
// greeting, and a new ping interval even on connections already open.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCaddy, exampleText, waitUntil, sleep } from "../lib/caddy.mjs";
import { connect, next, emitAck, record } from "../lib/client.mjs";

// Caddyfile.example with a short heartbeat, so ping timing is observable.
function config({ pingInterval, greeting }) {
  let text = exampleText();
  const replace = (from, to) => {
    assert.ok(text.includes(from), `Caddyfile.example no longer contains ${from}`);
    text = text.replace(from, to);
  };
  replace("ping_interval 25s", `ping_interval ${pingInterval}`);
  replace("greet hello `{\"message\":\"Welcome to Socket io ~\"}`", `greet hello \`{"message":"${greeting}"}\``);
  return text;
}

// The heartbeat the client got in its handshake (engine.io-client keeps it
// in a field it does not document).
const pingIntervalOf = (socket) => socket.io.engine._pingInterval ?? socket.io.engine.pingInterval;

const gauge = (metrics, nsp) => {
  const m = metrics.match(new RegExp(`^caddy_socketio_connected_sockets\\{hub="chat",namespace="${nsp}"\\} (\\d+)$`, "m"));
  return m ? Number(m[1]) : undefined;
};

let caddy;
before(async () => { caddy = await startCaddy({ caddyfileText: config({ pingInterval: "1s", greeting: "v1" }) }); });
after(async () => { await caddy?.stop(); });

test("reload keeps connections and rooms and applies new settings", async () => {
  const sockets = [];
  try {
    let helloA;
    const a = await connect(caddy.url, { transports: ["websocket"] }, (s) => { helloA = next(s, "hello"); });
    const b = await connect(caddy.url, { transports: ["polling"] });
    const sys = await connect(caddy.url + "/system", { transports: ["polling", "websocket"] });
    sockets.push(a, b, sys);
    assert.deepEqual(await helloA, [{ message: "v1" }]);
    assert.equal(pingIntervalOf(a), 1000);
    await emitAck(a, "joinRoom", { room: "r" });
    await emitAck(b, "joinRoom", { room: "r" });
    const disconnects = [...sockets].map((s) => record(s, "disconnect"));
    const pingsA = [];
    a.io.engine.on("ping", () => pingsA.push(Date.now()));
    assert.equal(gauge(await caddy.metrics(), "/"), 2);

    const t0 = Date.now();
    await caddy.reload(config({ pingInterval: "2s", greeting: "v2" }));
    const reloadMs = Date.now() - t0;

    // Broadcasts still reach the room, both ways, over both transports.
    const atB = next(b, "chatMessage", "chatMessage at b");
    a.emit("chatInput", { nick: "a", msg: "after reload" });
    assert.deepEqual(await atB, [{ nick: "a", msg: "after reload" }]);
    const atA = next(a, "chatMessage", "chatMessage at a");
    b.emit("chatInput", { nick: "b", msg: "polling after reload" });
    assert.deepEqual(await atA, [{ nick: "b", msg: "polling after reload" }]);

    // New connections get the new greeting and heartbeat.
    let helloD;
    const d = await connect(caddy.url, { transports: ["websocket"] }, (s) => { helloD = next(s, "hello"); });
    sockets.push(d);
    assert.deepEqual(await helloD, [{ message: "v2" }]);
    assert.equal(pingIntervalOf(d), 2000);

    // Live connections get pings at the new interval (after the one that
    // was already scheduled).
    const after = () => pingsA.filter((t) => t > t0 + 1_100);
    await waitUntil(10_000, () => after().length >= 3, "3 pings after the reload");
    const p = after();
    const gaps = p.slice(1).map((t, i) => t - p[i]);
    for (const gap of gaps) assert.ok(gap > 1_700 && gap < 2_700, `ping gaps ${gaps} ms, want ~2000`);

    for (const list of disconnects) assert.deepEqual(list, [], "a client was disconnected by the reload");
    for (const s of [a, b, sys]) assert.ok(s.connected);
    assert.equal(gauge(await caddy.metrics(), "/"), 3, "connected_sockets continues across the reload");
    const metrics = await caddy.metrics(); // a, b, sys (its own connection: forceNew) and d
    assert.equal(gauge(metrics, "/system"), 1);
    assert.match(metrics, /^caddy_socketio_sessions\{hub="chat"\} 4$/m);
    assert.match(metrics, /^caddy_socketio_packets_received_total\{hub="chat"\} [1-9]\d*$/m);
    assert.match(metrics, /^caddy_socketio_broadcasts_total\{hub="chat",namespace="\/"\} 2$/m);
    console.log(`# reload took ${reloadMs} ms; ping gaps after it: ${gaps.join(", ")} ms`);
  } finally {
    for (const s of sockets) s.disconnect();
  }
});
