// Two Caddy nodes sharing one redis-server (adapter redis), and a third
// Caddy in front of them with reverse_proxy + lb_policy cookie, as
// docs/scaling.md describes. Official socket.io-client clients in Node.
// Skips, loudly, without redis-server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { connect as netConnect } from "node:net";
import { startCaddy, freePort, sleep, waitUntil, within } from "../lib/caddy.mjs";
import { connect, next, emitAck, record } from "../lib/client.mjs";

function which(bin) {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}
const redisBin = process.env.REDIS_SERVER || which("redis-server");
const skip = redisBin ? false : "redis-server not found";
if (skip) process.stderr.write("\n*** SKIPPING cluster e2e tests: redis-server not found (apt-get install redis-server). ***\n\n");

/** Resolves true when redis answers PING on port. */
function ping(port) {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 300);
    s.on("error", () => { clearTimeout(t); resolve(false); });
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => { clearTimeout(t); s.destroy(); resolve(d.toString().startsWith("+PONG")); });
  });
}

/** A redis-server of our own on a free port; can stop and start again. */
async function startRedis() {
  const port = await freePort();
  const r = {
    port,
    url: `redis://127.0.0.1:${port}`,
    child: null,
    async start() {
      r.child = spawn(redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
      await waitUntil(10_000, () => ping(port), `redis-server on ${port}`);
    },
    async stop() {
      const c = r.child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return;
      const exited = new Promise((res) => c.once("exit", res));
      c.kill("SIGKILL");
      await within(5_000, exited, "redis-server to exit");
    },
  };
  await r.start();
  return r;
}

const nodeConfig = (redisUrl, prefix) => `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	socketio {
		hub chat
		ping_interval 1s
		ping_timeout 2s
		adapter redis ${redisUrl} {
			prefix ${prefix}
			requests_timeout 2s
		}
		namespace / {
			join joinRoom room exclusive
			relay chatInput chatMessage
			relay shout {
				to namespace
			}
		}
	}
	respond "socket.io node" 200
}
`;

const frontConfig = (upstreams) => `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	reverse_proxy ${upstreams.join(" ")} {
		# sticky: the first response sets the cookie "sio_node" naming the
		# node; round_robin (instead of the default random) picks the node
		# of a new client, so the test knows both nodes get clients.
		lb_policy cookie sio_node {
			fallback round_robin
		}
	}
}
`;

const connectedOn = async (caddy) => {
  const m = (await caddy.metrics()).match(/^caddy_socketio_connected_sockets\{hub="chat",namespace="\/"\} (\d+)$/m);
  return m ? Number(m[1]) : 0;
};

let redis, nodeA, nodeB, front;
before(async () => {
  if (skip) return;
  redis = await startRedis();
  const prefix = `e2e${Date.now()}`;
  nodeA = await startCaddy({ caddyfileText: nodeConfig(redis.url, prefix) });
  nodeB = await startCaddy({ caddyfileText: nodeConfig(redis.url, prefix) });
  front = await startCaddy({ caddyfileText: frontConfig([nodeA.url, nodeB.url].map((u) => u.replace("http://", ""))) });
});
after(async () => {
  await Promise.allSettled([front?.stop(), nodeA?.stop(), nodeB?.stop()]);
  await redis?.stop();
});

/**
 * Waits for the events, then a while longer: each must arrive exactly once
 * (in any order: senders on two nodes race).
 */
async function exactlyOnce(recorded, want, ms = 500) {
  await waitUntil(10_000, () => recorded.length >= want.length, `${want.length} events`);
  await sleep(ms); // duplicates, if any, would arrive now
  const key = (x) => JSON.stringify(x, (_, v) => (v && typeof v === "object" && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v));
  const sorted = (xs) => [...xs].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
  assert.deepEqual(sorted(recorded), sorted(want));
}

test("room and namespace relays cross nodes, each delivered exactly once", { skip }, async () => {
  const a = await connect(nodeA.url, { transports: ["websocket"] });
  const b = await connect(nodeB.url, { transports: ["polling"] });
  const c = await connect(nodeB.url, { transports: ["websocket"] });
  try {
    await emitAck(a, "joinRoom", { room: "r1" });
    await emitAck(b, "joinRoom", { room: "r1" });
    await emitAck(c, "joinRoom", { room: "r2" });
    const [atA, atB, atC] = [a, b, c].map((s) => record(s, "chatMessage"));
    a.emit("chatInput", { nick: "a", msg: "1" });
    b.emit("chatInput", { nick: "b", msg: "2" });
    await exactlyOnce(atB, [[{ nick: "a", msg: "1" }], [{ nick: "b", msg: "2" }]]);
    assert.equal(atA.length, 2);
    assert.deepEqual(atC, []);

    const shouts = [a, b, c].map((s) => record(s, "shout"));
    c.emit("shout", "everyone");
    for (const got of shouts) await exactlyOnce(got, [["everyone"]], 200);

    const metricsA = await nodeA.metrics();
    assert.match(metricsA, /^caddy_socketio_redis_published_total\{hub="chat"\} [1-9]/m);
    assert.match(metricsA, /^caddy_socketio_redis_received_total\{hub="chat"\} [1-9]/m);
  } finally {
    for (const s of [a, b, c]) s.disconnect();
  }
});

test("polling-only clients through the cookie-sticky front stay on their node", { skip }, async () => {
  // withCredentials: engine.io-client (Node) keeps cookies in its own jar.
  const opts = { transports: ["polling"], withCredentials: true };
  const sockets = [];
  try {
    for (let i = 0; i < 4; i++) sockets.push(await connect(front.url, opts));
    // round_robin spread them over both nodes.
    await waitUntil(5_000, async () => (await connectedOn(nodeA)) === 2 && (await connectedOn(nodeB)) === 2, "2 clients on each node");
    for (const s of sockets) await emitAck(s, "joinRoom", { room: "sticky" });
    const got = sockets.map((s) => record(s, "chatMessage"));
    const disconnects = sockets.map((s) => record(s, "disconnect"));
    // Several heartbeats (ping_interval 1s) and messages over many polls.
    for (let i = 0; i < 3; i++) {
      sockets[i].emit("chatInput", { nick: `s${i}`, msg: String(i) });
      await sleep(1_000);
    }
    const want = [0, 1, 2].map((i) => [{ nick: `s${i}`, msg: String(i) }]);
    for (const g of got) await exactlyOnce(g, want, 100);
    for (const d of disconnects) assert.deepEqual(d, []);
    for (const s of sockets) assert.equal(s.io.engine.transport.name, "polling");
  } finally {
    for (const s of sockets) s.disconnect();
  }
});

test("without cookies, polling through the front breaks (the control)", { skip }, async () => {
  // The second request of the session goes to the other node, which does
  // not know the session id.
  const failed = (async () => {
    const s = await connect(front.url, { transports: ["polling"] });
    try {
      await next(s, "disconnect", "a disconnect");
    } finally {
      s.disconnect();
    }
  })();
  await within(15_000, failed.catch(() => {}), "the session to fail");
});

test("default clients (polling, then upgrade) and websocket-only clients through the front", { skip }, async () => {
  const upgraded = await connect(front.url, { withCredentials: true });
  const wsOnly = await connect(front.url, { transports: ["websocket"] });
  try {
    await waitUntil(5_000, () => upgraded.io.engine.transport.name === "websocket", "the upgrade");
    await emitAck(upgraded, "joinRoom", { room: "mixed" });
    await emitAck(wsOnly, "joinRoom", { room: "mixed" });
    const [atUp, atWs] = [upgraded, wsOnly].map((s) => record(s, "chatMessage"));
    upgraded.emit("chatInput", { nick: "u", msg: "upgraded" });
    await waitUntil(10_000, () => atWs.length === 1 && atUp.length === 1, "the first message");
    wsOnly.emit("chatInput", { nick: "w", msg: "ws" });
    const want = [[{ nick: "u", msg: "upgraded" }], [{ nick: "w", msg: "ws" }]];
    await exactlyOnce(atWs, want, 100);
    await exactlyOnce(atUp, want, 100);
  } finally {
    upgraded.disconnect();
    wsOnly.disconnect();
  }
});

test("Redis restarted during traffic: cross-node delivery resumes", { skip }, async () => {
  const a = await connect(nodeA.url, { transports: ["websocket"] });
  const b = await connect(nodeB.url, { transports: ["websocket"] });
  try {
    await emitAck(a, "joinRoom", { room: "restart" });
    await emitAck(b, "joinRoom", { room: "restart" });
    const atB = record(b, "chatMessage");
    let n = 0;
    const traffic = setInterval(() => a.emit("chatInput", { nick: "a", msg: String(n++) }), 50);
    try {
      await waitUntil(5_000, () => atB.length > 0, "delivery before the restart");
      await redis.stop();
      await sleep(500);
      const lost = atB.length;
      await redis.start();
      await waitUntil(30_000, () => atB.length > lost + 5, "delivery after the restart");
    } finally {
      clearInterval(traffic);
    }
    // The clients stayed connected throughout.
    assert.ok(a.connected && b.connected);
    assert.match(await nodeB.metrics(), /^caddy_socketio_redis_reconnects_total\{hub="chat"\} [1-9]/m);
  } finally {
    a.disconnect();
    b.disconnect();
  }
});
