// Webhooks and the HTTP API (docs/webhooks.md) against a real Caddy: the
// "app" is a node:http server in this process that records every hook
// request and answers it; the clients are the official socket.io-client in
// websocket-only, polling-only and default (polling, then upgrade) modes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { io } from "socket.io-client";
import { startCaddy, freePort, waitUntil, within, sleep } from "../lib/caddy.mjs";
import { connect, next, expect, emitAck, WAIT } from "../lib/client.mjs";

const SECRET = "s3cret";
const TOKEN = "t0ken";

/** Every hook request the app received: {headers, raw, body}. */
const hooks = [];
/** The "burst" events the app received, per socket id: their first argument, in order. */
const bursts = new Map();
/** How long the app takes per "burst" event (ms). */
const BURST_DELAY = 5;
let app, appPort, caddy;

/** The app's answer to a hook request. */
function reply(body) {
  if (body.type === "connect") {
    if (body.socket?.handshake?.auth?.token !== "good") {
      return { error: { message: "unauthorized", data: { why: "x" } } };
    }
    return {};
  }
  if (body.type === "event" && body.event === "ask") {
    return { ack: ["answer"], emit: [{ event: "note", args: [1] }], join: ["r1"] };
  }
  return null; // chatInput, disconnect: nothing to do (204)
}

const config = (port) => `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	socketio {
		hook http://127.0.0.1:${port}/hook {
			secret ${SECRET}
			events connect disconnect chatInput ask burst
			timeout 2s
		}
		api /api {
			token ${TOKEN}
		}
		namespace /chat
	}
	respond "hooks e2e" 200
}
`;

before(async () => {
  appPort = await freePort();
  app = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      let body;
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (body.type === "event" && body.event === "burst") {
        // Not kept in hooks (thousands); answered after BURST_DELAY ms.
        const id = body.socket.id;
        if (!bursts.has(id)) bursts.set(id, []);
        bursts.get(id).push(body.args[0]);
        setTimeout(() => {
          const text = JSON.stringify(body.ack ? { ack: [{ echo: body.args[0] }] } : {});
          res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
        }, BURST_DELAY);
        return;
      }
      hooks.push({ method: req.method, url: req.url, headers: req.headers, raw, body });
      const out = reply(body);
      if (out === null) {
        res.writeHead(204).end();
      } else {
        const text = JSON.stringify(out);
        res.writeHead(200, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) }).end(text);
      }
    });
  });
  await new Promise((resolve, reject) => {
    app.once("error", reject);
    app.listen(appPort, "127.0.0.1", resolve);
  });
  caddy = await startCaddy({ caddyfileText: config(appPort) });
});

after(async () => {
  // Caddy first: its stop delivers pending disconnect hooks to the app.
  await caddy?.stop();
  if (app) {
    app.closeAllConnections();
    await within(5_000, new Promise((r) => app.close(r)), "the app server to close");
  }
});

/** Waits for the hook request matching pred and returns it. */
async function hookWhere(pred, what) {
  let found;
  await waitUntil(WAIT, () => (found = hooks.find(pred)) !== undefined, what);
  return found;
}

/** The signature check of docs/webhooks.md, over the raw body. */
function signatureOk(h) {
  const ts = h.headers["x-socketio-timestamp"] || "";
  const sig = h.headers["x-socketio-signature"] || "";
  if (!/^\d+$/.test(ts) || Math.abs(Date.now() / 1000 - Number(ts)) > 300) return false;
  const want = "sha256=" + createHmac("sha256", SECRET).update(ts + ".").update(h.raw).digest("hex");
  const a = Buffer.from(sig);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Emits with an ack callback; resolves with all the ack's arguments. */
function ackArgs(socket, event, ...args) {
  return within(WAIT, new Promise((resolve, reject) => {
    socket.timeout(WAIT).emit(event, ...args, (err, ...res) => (err ? reject(err) : resolve(res)));
  }), `ack of ${event}`);
}

/** An API call on the site; token null sends no Authorization. */
async function api(method, path, body, token = TOKEN) {
  const headers = {};
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(caddy.url + "/api" + path, {
    method,
    headers,
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

test("the signature test vector of docs/webhooks.md", () => {
  const sig = "sha256=" + createHmac("sha256", "s3cret").update("1700000000.").update('{"type":"connect"}').digest("hex");
  assert.equal(sig, "sha256=c529561012fc6de4573ff184234188aabd19700ceaa6f8362cc54e231641d6d1");
});

const modes = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: {},
};

for (const [mode, opts] of Object.entries(modes)) {
  test(`hooks and API with the official client (${mode})`, async (t) => {
    const auth = { token: "good", mode, nested: { n: 1 } };
    const s = await connect(caddy.url, { ...opts, auth, query: { q: `v-${mode}` } });
    try {
      const id = s.id;
      assert.ok(id);

      await t.test("connect hook: payload and signature", async () => {
        const h = await hookWhere((x) => x.body.type === "connect" && x.body.socket?.id === id, `the connect hook of ${id}`);
        assert.equal(h.method, "POST");
        assert.equal(h.url, "/hook");
        assert.match(h.headers["content-type"], /^application\/json/);
        assert.equal(h.headers["x-socketio-type"], "connect");
        assert.equal(h.headers["x-socketio-attempt"], "1");
        assert.equal(h.headers["x-socketio-delivery"], h.body.id);
        assert.match(h.headers["x-socketio-signature"], /^sha256=[0-9a-f]{64}$/);
        assert.ok(signatureOk(h), "X-Socketio-Signature verifies");
        // A tampered body does not verify.
        assert.ok(!signatureOk({ ...h, raw: Buffer.concat([h.raw, Buffer.from(" ")]) }));

        const b = h.body;
        assert.equal(b.type, "connect");
        assert.equal(b.namespace, "/");
        assert.equal(typeof b.id, "string");
        assert.ok(!Number.isNaN(Date.parse(b.time)), `time ${b.time}`);
        assert.equal(b.socket.id, id);
        assert.deepEqual(b.socket.rooms, []);
        assert.equal(b.socket.data, null);
        const hs = b.socket.handshake;
        assert.deepEqual(hs.auth, auth);
        assert.equal(typeof hs.headers, "object");
        // (Go keeps Host out of the header map: no "host" key here, unlike
        // Node's handshake.headers.)
        assert.ok(Object.keys(hs.headers).length > 0, "handshake.headers is not empty");
        if (mode === "websocket") assert.equal(hs.headers.upgrade?.toLowerCase(), "websocket");
        else assert.equal(hs.headers["user-agent"], "node-XMLHttpRequest");
        for (const k of Object.keys(hs.headers)) assert.equal(k, k.toLowerCase());
        assert.equal(hs.query.q, `v-${mode}`);
        assert.equal(hs.query.EIO, "4");
        assert.equal(hs.query.transport, mode === "websocket" ? "websocket" : "polling");
        assert.match(hs.url, /^\/socket\.io\/\?/);
        assert.equal(hs.address, "127.0.0.1");
        assert.equal(hs.secure, false);
        assert.equal(typeof hs.issued, "number");
      });

      await t.test("connect refused by the app: connect_error with message and data", async () => {
        const bad = io(caddy.url, { ...opts, forceNew: true, reconnection: false, timeout: WAIT, auth: { token: "bad" } });
        try {
          const [err] = await next(bad, "connect_error", "connect_error of the refused client");
          assert.equal(err.message, "unauthorized");
          assert.deepEqual(err.data, { why: "x" });
          assert.equal(bad.connected, false);
        } finally {
          bad.disconnect();
        }
      });

      await t.test("event hook with ack: ack, emit and join from the reply; API emit to the room", async () => {
        const note = expect(s, "note", "note from the hook reply");
        const ack = await ackArgs(s, "ask", "what?", { k: [1, 2] });
        assert.deepEqual(ack, ["answer"]);
        assert.deepEqual(await note(), [1]);

        const h = await hookWhere((x) => x.body.type === "event" && x.body.event === "ask" && x.body.socket?.id === id, "the ask hook");
        assert.equal(h.headers["x-socketio-type"], "event");
        assert.ok(signatureOk(h));
        assert.deepEqual(h.body.args, ["what?", { k: [1, 2] }]);
        assert.equal(h.body.ack, true);
        assert.equal(h.body.namespace, "/");

        if (mode === "upgrade") {
          await waitUntil(WAIT, () => s.io.engine.transport.name === "websocket", "the upgrade to websocket");
        }

        // Not authorized: no token, wrong token.
        const body = { namespace: "/", event: "to-r1", args: [mode, { x: 1 }], to: ["r1"] };
        const noToken = await api("POST", "/emit", body, null);
        assert.equal(noToken.status, 401, noToken.text);
        assert.equal(typeof noToken.json?.error, "string", noToken.text);
        const wrong = await api("POST", "/emit", body, "nope");
        assert.equal(wrong.status, 401, wrong.text);

        const got = expect(s, "to-r1", "the API emit to r1");
        const res = await api("POST", "/emit", body);
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json, { ok: true });
        assert.deepEqual(await got(), [mode, { x: 1 }]);

        // The room is visible in the API too.
        const list = await api("GET", "/sockets?namespace=/&room=r1");
        assert.equal(list.status, 200, list.text);
        const mine = list.json.find((x) => x.id === id);
        assert.ok(mine, `socket ${id} listed in r1: ${list.text}`);
        assert.ok(mine.rooms.includes("r1"));
      });

      await t.test("binary argument reaches the hook as {_binary: base64}", async () => {
        const buf = Buffer.from([0, 1, 2, 250, 255, 10]);
        s.emit("chatInput", buf, { file: Buffer.from("hello") });
        const h = await hookWhere((x) => x.body.type === "event" && x.body.event === "chatInput" && x.body.socket?.id === id, "the chatInput hook");
        assert.ok(signatureOk(h));
        assert.deepEqual(h.body.args, [{ _binary: buf.toString("base64") }, { file: { _binary: "aGVsbG8=" } }]);
        assert.equal(h.body.ack, false);
        assert.ok(h.body.socket.rooms.includes("r1"), "rooms carry r1 joined by the previous reply");
      });

      await t.test("1,000 events in a burst through a 5 ms app: all reach it in order, all answered (backpressure)", async () => {
        const N = 1000;
        const acks = [];
        for (let i = 0; i < N; i++) {
          acks.push(new Promise((resolve, reject) => {
            s.timeout(120_000).emit("burst", i, (err, res) => (err ? reject(err) : resolve(res)));
          }));
        }
        const got = await within(120_000, Promise.all(acks), "1,000 burst acks");
        for (let i = 0; i < N; i++) assert.deepEqual(got[i], { echo: i }, `ack ${i}`);
        const seen = bursts.get(id) || [];
        assert.equal(seen.length, N, "every event reached the app");
        for (let i = 0; i < N; i++) assert.equal(seen[i], i, `event ${i} in order`);
        // No error ack anywhere: nothing was dropped.
        assert.ok(got.every((x) => x && x.error === undefined));
      });

      await t.test("200 concurrent acknowledged events resolve to their own values", async () => {
        const before = (bursts.get(id) || []).length;
        const got = await within(120_000, Promise.all(
          Array.from({ length: 200 }, (_, i) => s.timeout(120_000).emitWithAck("burst", `c${i}`)),
        ), "200 concurrent acks");
        got.forEach((x, i) => assert.deepEqual(x, { echo: `c${i}` }));
        assert.equal((bursts.get(id) || []).length - before, 200);
      });

      await t.test("API emit with ack: every argument of the client's ack, binary included", async () => {
        s.once("question", (q, cb) => cb("re", { n: 42 }, Buffer.from([1, 2, 3])));
        const res = await api("POST", "/emit", { namespace: "/", event: "question", args: ["?"], to: [id], ack_timeout: "5s" });
        assert.equal(res.status, 200, res.text);
        assert.deepEqual(res.json, {
          ok: true,
          acks: [{ socket: id, args: ["re", { n: 42 }, { _binary: "AQID" }] }],
          timed_out: [],
        }, res.text);
      });

      await t.test("disconnect hook after socket.disconnect()", async () => {
        s.disconnect();
        const h = await hookWhere((x) => x.body.type === "disconnect" && x.body.socket?.id === id, "the disconnect hook");
        assert.equal(h.headers["x-socketio-type"], "disconnect");
        assert.ok(signatureOk(h));
        assert.equal(h.body.reason, "client namespace disconnect");
        assert.equal(h.body.namespace, "/");
        assert.ok(h.body.socket.rooms.includes("r1"));
        // Exactly one connect, one disconnect for this socket.
        await sleep(200);
        assert.equal(hooks.filter((x) => x.body.type === "disconnect" && x.body.socket?.id === id).length, 1);
        assert.equal(hooks.filter((x) => x.body.type === "connect" && x.body.socket?.id === id).length, 1);
      });
    } finally {
      s.disconnect();
    }
  });
}

test("connect hook of a declared namespace (/chat)", async () => {
  const s = await connect(caddy.url + "/chat", { transports: ["websocket"], auth: { token: "good" } });
  try {
    const id = s.id;
    const h = await hookWhere((x) => x.body.type === "connect" && x.body.socket?.id === id, "the /chat connect hook");
    assert.equal(h.body.namespace, "/chat");
    assert.ok(signatureOk(h));
    assert.equal(await emitAck(s, "ask"), "answer");
  } finally {
    s.disconnect();
  }
});
