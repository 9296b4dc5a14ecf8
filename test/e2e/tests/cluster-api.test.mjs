// The HTTP API (docs/webhooks.md#http-api) on a two-node cluster: two Caddy
// nodes sharing one redis-server (adapter redis), official socket.io-client
// clients (websocket) on each, every API call made on node A. Skips, loudly,
// without redis-server.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { connect as netConnect } from "node:net";
import { startCaddy, freePort, sleep, waitUntil, within } from "../lib/caddy.mjs";
import { connect, next, emitAck, record, WAIT } from "../lib/client.mjs";

const TOKEN = "t0ken";

function which(bin) {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}
const redisBin = process.env.REDIS_SERVER || which("redis-server");
const skip = redisBin ? false : "redis-server not found";
if (skip) process.stderr.write("\n*** SKIPPING cluster API e2e tests: redis-server not found (apt-get install redis-server). ***\n\n");

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

/** A redis-server of our own on a free port. */
async function startRedis() {
  const port = await freePort();
  const child = spawn(redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  const r = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((res) => child.once("exit", res));
      child.kill("SIGKILL");
      await within(5_000, exited, "redis-server to exit");
    },
  };
  try {
    await waitUntil(10_000, () => ping(port), `redis-server on ${port}`);
  } catch (err) {
    await r.stop();
    throw err;
  }
  return r;
}

const nodeConfig = (redisUrl, prefix) => `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	socketio {
		hub chat
		adapter redis ${redisUrl} {
			prefix ${prefix}
			requests_timeout 2s
		}
		api /api {
			token ${TOKEN}
		}
		namespace / {
			join joinRoom room
		}
	}
	respond "socket.io node" 200
}
`;

let redis, nodeA, nodeB;
before(async () => {
  if (skip) return;
  redis = await startRedis();
  const prefix = `e2eapi${Date.now()}`;
  nodeA = await startCaddy({ caddyfileText: nodeConfig(redis.url, prefix) });
  nodeB = await startCaddy({ caddyfileText: nodeConfig(redis.url, prefix) });
});
after(async () => {
  await Promise.allSettled([nodeA?.stop(), nodeB?.stop()]);
  await redis?.stop();
});

/** An API call on a node. */
async function api(node, method, path, body) {
  const res = await fetch(node.url + "/api" + path, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** Waits until every recorder has n events, then 300 ms more for duplicates. */
async function exactly(recorders, n, what) {
  await waitUntil(WAIT, () => recorders.every((r) => r.length >= n), what);
  await sleep(300);
}

test("HTTP API on node A acts on the sockets of both nodes", { skip }, async (t) => {
  const opts = { transports: ["websocket"] };
  const a = await connect(nodeA.url, opts);
  const b = await connect(nodeB.url, opts);
  const b2 = await connect(nodeB.url, opts); // on B, not in room r
  const all = [a, b, b2];
  try {
    assert.equal(await emitAck(a, "joinRoom", { room: "r" }), "r");
    assert.equal(await emitAck(b, "joinRoom", { room: "r" }), "r");

    await t.test("emit to a room reaches the clients of both nodes exactly once", async () => {
      const got = all.map((s) => record(s, "hello"));
      const res = await api(nodeA, "POST", "/emit", { namespace: "/", event: "hello", args: ["world", { n: 1 }], to: ["r"] });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { ok: true });
      await exactly([got[0], got[1]], 1, "hello on a and b");
      assert.deepEqual(got[0], [["world", { n: 1 }]]);
      assert.deepEqual(got[1], [["world", { n: 1 }]]);
      assert.deepEqual(got[2], [], "b2 is not in r");
    });

    await t.test("emit with ack_timeout collects every argument of the acks of both nodes", async () => {
      a.on("question", (arg, cb) => cb("ok-A"));
      // Node B forwards all three arguments, binary included, with the socket id.
      b.on("question", (arg, cb) => cb("ok-B", { n: 42 }, Buffer.from([1, 2, 3])));
      b2.on("question", (arg, cb) => cb("ok-B2"));
      const t0 = Date.now();
      const res = await api(nodeA, "POST", "/emit", { namespace: "/", event: "question", args: ["?"], to: ["r"], ack_timeout: "3s" });
      const ms = Date.now() - t0;
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.ok, true, res.text);
      assert.deepEqual(res.json.timed_out, [], res.text);
      assert.ok(Array.isArray(res.json.acks), res.text);
      const bySocket = Object.fromEntries(res.json.acks.map((x) => [x.socket, x.args]));
      assert.deepEqual(bySocket, {
        [a.id]: ["ok-A"],
        [b.id]: ["ok-B", { n: 42 }, { _binary: "AQID" }],
      }, res.text);
      t.diagnostic(`ack emit answered in ${ms} ms`);
      assert.ok(ms < 2_900, `answered once all acks arrived, not at the timeout (${ms} ms)`);
    });

    await t.test("emit with ack_timeout names the remote socket that did not answer", async () => {
      b.on("silent", () => {}); // never acks
      a.on("silent", (cb) => cb("here"));
      const res = await api(nodeA, "POST", "/emit", { namespace: "/", event: "silent", to: ["r"], ack_timeout: "500ms" });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json.acks, [{ socket: a.id, args: ["here"] }], res.text);
      assert.deepEqual(res.json.timed_out, [b.id], res.text);
    });

    await t.test("GET /sockets on node A lists the sockets of both nodes", async () => {
      const res = await api(nodeA, "GET", "/sockets?namespace=/&room=r");
      assert.equal(res.status, 200, res.text);
      const ids = res.json.map((x) => x.id);
      assert.deepEqual(ids, [a.id, b.id].sort(), res.text);
      for (const x of res.json) assert.ok(x.rooms.includes("r") && x.rooms.includes(x.id), res.text);

      const everyone = await api(nodeA, "GET", "/sockets?namespace=/");
      assert.equal(everyone.status, 200, everyone.text);
      assert.deepEqual(everyone.json.map((x) => x.id), all.map((s) => s.id).sort(), everyone.text);

      const rooms = await api(nodeA, "GET", "/rooms?namespace=/");
      assert.equal(rooms.status, 200, rooms.text);
      assert.deepEqual(rooms.json, [{ room: "r", sockets: 2 }], rooms.text);
    });

    await t.test("POST /join on node A for a socket on node B, then emit to its new room", async () => {
      const res = await api(nodeA, "POST", "/join", { namespace: "/", sockets: [b.id], rooms: ["vip"] });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { ok: true });
      await waitUntil(WAIT, async () => {
        const l = await api(nodeA, "GET", "/sockets?namespace=/&room=vip");
        return l.status === 200 && l.json.length === 1 && l.json[0].id === b.id;
      }, "b listed in vip");

      const got = all.map((s) => record(s, "vipOnly"));
      const e = await api(nodeA, "POST", "/emit", { namespace: "/", event: "vipOnly", args: [42], to: ["vip"] });
      assert.equal(e.status, 200, e.text);
      await exactly([got[1]], 1, "vipOnly on b");
      assert.deepEqual(got[1], [[42]]);
      assert.deepEqual(got[0], []);
      assert.deepEqual(got[2], []);
    });

    await t.test("POST /disconnect on node A disconnects a socket on node B", async () => {
      const reason = next(b, "disconnect", "b's disconnect");
      const res = await api(nodeA, "POST", "/disconnect", { namespace: "/", sockets: [b.id] });
      assert.equal(res.status, 200, res.text);
      assert.deepEqual(res.json, { ok: true });
      assert.equal((await reason)[0], "io server disconnect");
      await sleep(300);
      assert.ok(a.connected && b2.connected, "the others stay connected");
      await waitUntil(WAIT, async () => {
        const l = await api(nodeA, "GET", "/sockets?namespace=/");
        return l.status === 200 && !l.json.some((x) => x.id === b.id);
      }, "b gone from /sockets");
    });
  } finally {
    for (const s of all) s.disconnect();
  }
});
