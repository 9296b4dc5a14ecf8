// socket.io-client 2.x (Engine.IO v3, Socket.IO v4) against a server started
// with -allow-eio3 (Node: allowEIO3), in every transport mode, with binary
// as binary (the client's default: binary polling payloads, binary frames)
// and as base64 (forceBase64: "b4..." packets); rooms shared with a 4.x
// client; and the refusal when the flag is off.
import { describe, test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";
import ioV2 from "socket.io-client-v2";
import { startServer } from "../lib/server.mjs";
import { Clients, WAIT_MS, QUIET_MS, collect, emitAck, sleep, withTimeout } from "../lib/client.mjs";

const V2_MODES = (process.env.MODES ? process.env.MODES.split(",") : ["websocket", "polling", "upgrade"]).flatMap(
  (m) => [m, `${m}+b64`],
);

function v2Options(mode, extra = {}) {
  const [transport, b64] = mode.split("+");
  const o = { forceNew: true, reconnection: false, timeout: WAIT_MS, forceBase64: b64 === "b64", ...extra };
  if (transport === "websocket") o.transports = ["websocket"];
  else if (transport === "polling") o.transports = ["polling"];
  else {
    o.transports = ["polling", "websocket"];
    o.upgrade = true;
    o.rememberUpgrade = false;
  }
  return o;
}

// Events with a timeout, for the 2.x emitter.
function once(emitter, event, ms = WAIT_MS) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, `"${event}"`);
}

async function until(got, n, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (let i = 0; got.length < n; i++) {
    if (Date.now() > deadline || i > 100000) throw new Error(`timeout: ${what} (have ${got.length}, want ${n})`);
    await sleep(5);
  }
}

let server;
const opened = new Set();

function openV2(mode, nsp = "/", extra = {}) {
  const s = ioV2(server.url + nsp, v2Options(mode, extra));
  opened.add(s);
  return s;
}

// Connects a 2.x socket and resolves with [socket, welcome] (and waits for
// the upgrade in "upgrade" mode).
async function connectV2(mode, nsp = "/", extra = {}) {
  const s = openV2(mode, nsp, extra);
  const welcome = once(s, "welcome");
  welcome.catch(() => {});
  await withTimeout(
    new Promise((resolve, reject) => {
      s.once("connect", resolve);
      s.once("connect_error", (e) => reject(new Error(`connect_error: ${e && e.message}`)));
      s.once("error", (e) => reject(new Error(`error: ${JSON.stringify(e)}`)));
    }),
    WAIT_MS,
    `v2 connect ${nsp} (${mode})`,
  );
  const [w] = await welcome;
  if (mode.startsWith("upgrade")) {
    const engine = s.io.engine;
    if (engine.transport.name !== "websocket") await once(engine, "upgrade");
    assert.equal(engine.transport.name, "websocket");
  }
  return [s, w];
}

before(async () => {
  server = await startServer({ pingInterval: 500, pingTimeout: 1000, args: ["-allow-eio3"] });
});
after(async () => {
  await server?.stop();
});
afterEach(() => {
  for (const s of opened) s.close();
  opened.clear();
});

for (const mode of V2_MODES) {
  describe(`socket.io-client 2.x [${mode}]`, () => {
    test("connects to / without a CONNECT, and to namespaces with a query as auth", async () => {
      const [s, w] = await connectV2(mode);
      assert.equal(w.nsp, "/");
      assert.deepEqual(w.auth, {});
      assert.equal(w.id, s.id, "v2 socket id is the Engine.IO id, as the client computes it");
      assert.equal(String(s.io.engine.transport.query.EIO), "3");

      const [c, wc] = await connectV2(mode, "/custom");
      assert.equal(wc.nsp, "/custom");
      assert.equal(wc.id, c.id, "/custom#<sid>");
      assert.match(wc.id, /^\/custom#/);

      const [p, wp] = await connectV2(mode, "/private", { query: { token: "secret" } });
      assert.deepEqual(wp.auth, { token: "secret" });
      assert.equal(wp.nsp, "/private");
      p.close();
    });

    test("a middleware refusal is an ERROR packet with the message", async () => {
      const s = openV2(mode, "/private", { query: { token: "wrong" } });
      const [err] = await once(s, "error");
      assert.equal(err, "unauthorized");
    });

    test("events, unicode and acks both ways", async () => {
      const [s] = await connectV2(mode);
      // Non-ASCII and astral characters: v3 polling lengths are UTF-16 units.
      const payload = { text: "héllo wörld ✓ 😀𝄞", n: 42, list: [1, "two", null, true] };
      const back = once(s, "echo-back");
      s.emit("echo", payload, "😀", 7);
      assert.deepEqual(await back, [payload, "😀", 7]);

      const ack = await withTimeout(
        new Promise((resolve) => s.emit("ack-echo", "a", { b: "é😀" }, (...res) => resolve(res))),
        WAIT_MS,
        "ack",
      );
      assert.deepEqual(ack, ["a", { b: "é😀" }]);

      // Server asks, client acks.
      s.on("question", (q, cb) => cb({ answer: q * 2 }));
      const answer = once(s, "answer");
      s.emit("ask", 21);
      assert.deepEqual(await answer, [{ answer: 42 }]);
    });

    test("binary attachments both ways", async () => {
      const [s] = await connectV2(mode);
      const blob = Buffer.from([0, 1, 2, 250, 255, 0x1e, 0x3a, 10, 13]);
      const big = Buffer.alloc(70000, 7);
      const back = once(s, "echo-back");
      s.emit("echo", { blob, nested: [big] }, "x");
      const [obj, x] = await back;
      assert.equal(x, "x");
      assert.deepEqual(Buffer.from(obj.blob), blob);
      assert.deepEqual(Buffer.from(obj.nested[0]), big);

      const ack = await withTimeout(
        new Promise((resolve) => s.emit("ack-echo", blob, "é", (...res) => resolve(res))),
        WAIT_MS,
        "binary ack",
      );
      assert.deepEqual(Buffer.from(ack[0]), blob);
      assert.equal(ack[1], "é");
    });

    test("rooms and broadcasts shared with a 4.x client", async () => {
      const c = new Clients(server.url);
      const v4mode = mode.split("+")[0];
      try {
        const [s] = await connectV2(mode);
        const { socket: v4 } = await c.connect(v4mode);
        const room = `mixed-${mode}`;
        const got2 = collect(s, "room-message");
        const got4 = collect(v4, "room-message");
        await withTimeout(new Promise((r) => s.emit("join", { room }, r)), WAIT_MS, "v2 join");
        assert.deepEqual(await emitAck(v4, "join", [{ room }]), [room]);

        v4.emit("to-room", { room, payload: { from: "v4", bin: Buffer.from([1, 2, 3]) } });
        await until(got2, 1, "v2 gets the v4 room message");
        await until(got4, 1, "v4 gets its own room message");
        s.emit("to-room", { room, payload: { from: "v2", bin: Buffer.from([4, 5]) } });
        await until(got2, 2, "v2 gets its room message");
        await until(got4, 2, "v4 gets the v2 room message");
        await sleep(QUIET_MS);
        assert.equal(got2.length, 2);
        assert.equal(got4.length, 2);
        assert.equal(got2[0][0].from, "v4");
        assert.deepEqual(Buffer.from(got2[0][0].bin), Buffer.from([1, 2, 3]));
        assert.equal(got4[1][0].from, "v2");
        assert.deepEqual(Buffer.from(got4[1][0].bin), Buffer.from([4, 5]));

        // Others in the room only.
        s.emit("to-room-others", { room, payload: "only v4" });
        await until(got4, 3, "v4 gets to-room-others");
        await sleep(QUIET_MS);
        assert.equal(got2.length, 2);
        assert.deepEqual(got4[2], ["only v4"]);
      } finally {
        c.closeAll();
      }
    });

    test("disconnects: by the server, by the client, and the heartbeat keeps it alive", async () => {
      const [s] = await connectV2(mode);
      // pingInterval 500 ms, pingTimeout 1000 ms: the client pings, the
      // server pongs; without pongs the client would give up after 1.5 s.
      const pongs = collect(s.io, "pong");
      const closed = collect(s, "disconnect");
      await sleep(2200);
      assert.deepEqual(closed, []);
      assert.ok(pongs.length >= 2, `pongs: ${pongs.length}`);

      const reason = once(s, "disconnect");
      s.emit("server-disconnect");
      assert.deepEqual(await reason, ["io server disconnect"]);

      const [t] = await connectV2(mode);
      const c = new Clients(server.url);
      try {
        // A 4.x peer sees the v2 client leave the room it was in.
        const { socket: v4 } = await c.connect(mode.split("+")[0]);
        const room = `bye-${mode}`;
        await withTimeout(new Promise((r) => t.emit("join", { room }, r)), WAIT_MS, "v2 join");
        await emitAck(v4, "join", [{ room }]);
        const gone = collect(t, "room-message");
        t.close();
        await sleep(QUIET_MS);
        const got = collect(v4, "room-message");
        v4.emit("to-room", { room, payload: 1 });
        await until(got, 1, "v4 room message");
        assert.deepEqual(gone, []);
      } finally {
        c.closeAll();
      }
    });
  });
}

// Node's own v3 payload codec (engine.io's parser-v3) is the oracle for the
// binary payload format, which only browsers use (in Node the 2.x client's
// XHR has no binary support, so it always asks for base64).
const require = createRequire(import.meta.url);
const parserV3 = require(path.join(path.dirname(require.resolve("engine.io")), "parser-v3", "index.js"));

function decodeV3(body, binary) {
  const pkts = [];
  const cb = (p) => {
    pkts.push(p);
  };
  if (binary) parserV3.decodePayloadAsBinary(body, cb);
  else parserV3.decodePayload(body, cb);
  return pkts;
}

describe("Engine.IO v3 polling payloads, raw", () => {
  test("binary payload format both ways, text payload lengths in UTF-16 units", async () => {
    const base = `${server.url}/socket.io/?EIO=3&transport=polling`;
    let res = await fetch(base);
    assert.equal(res.status, 200);
    const open = decodeV3(await res.text(), false);
    assert.equal(open[0].type, "open");
    const sid = JSON.parse(open[0].data).sid;
    const url = `${base}&sid=${sid}`;
    // "/" is connected without a CONNECT: "40" then the welcome event.
    // (Node sends them after the handshake response, we within it.)
    const seen = open.slice(1);
    for (let i = 0; i < 20 && !seen.some((p) => p.type === "message" && String(p.data).startsWith("2")); i++) {
      res = await fetch(url);
      seen.push(...decodeV3(await res.text(), false));
    }
    assert.equal(seen[0].type, "message");
    assert.equal(seen[0].data, "0");

    // An event with one attachment and non-ASCII text, as a binary payload.
    const blob = Buffer.from([0, 1, 2, 0xff, 0x3a, 0x1e]);
    const text = '51-["echo","é😀",{"_placeholder":true,"num":0}]';
    const body = await new Promise((resolve) =>
      parserV3.encodePayloadAsBinary(
        [
          { type: "message", data: text },
          { type: "message", data: blob },
        ],
        resolve,
      ),
    );
    res = await fetch(url, { method: "POST", body, headers: { "Content-Type": "application/octet-stream" } });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "ok");

    // The echo comes back as a binary payload (the client did not ask for b64).
    const got = [];
    for (let i = 0; i < 20 && got.length < 2; i++) {
      res = await fetch(url);
      const binary = res.headers.get("content-type") === "application/octet-stream";
      const buf = Buffer.from(await res.arrayBuffer());
      for (const p of decodeV3(binary ? buf : buf.toString(), binary)) {
        if (p.type === "message") got.push({ p, binary });
      }
    }
    assert.equal(got[0].p.data, '51-["echo-back","é😀",{"_placeholder":true,"num":0}]');
    assert.equal(got[0].binary, true);
    assert.deepEqual(Buffer.from(got[1].p.data), blob);

    // Text payload with astral characters: Node's codec must accept ours.
    const t = await new Promise((resolve) =>
      parserV3.encodePayload([{ type: "message", data: '2["echo","𝄞x😀"]' }], false, resolve),
    );
    res = await fetch(url, { method: "POST", body: t, headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(await res.text(), "ok");
    res = await fetch(url);
    const back = decodeV3(await res.text(), false);
    assert.deepEqual(back.map((p) => p.data), ['2["echo-back","𝄞x😀"]']);

    // A ping gets a pong; close ends the session.
    res = await fetch(url, { method: "POST", body: "1:2", headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(await res.text(), "ok");
    res = await fetch(url);
    assert.deepEqual(decodeV3(await res.text(), false).map((p) => p.type), ["pong"]);
    res = await fetch(url, { method: "POST", body: "1:1", headers: { "Content-Type": "text/plain;charset=UTF-8" } });
    assert.equal(res.status, 200);
  });
});

describe("Engine.IO v3 refused without -allow-eio3", () => {
  let off;
  before(async () => {
    off = await startServer();
  });
  after(async () => {
    await off?.stop();
  });

  test("polling handshake gets 400 code 5", async () => {
    const res = await fetch(`${off.url}/socket.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 400);
    assert.deepEqual(await res.json(), { code: 5, message: "Unsupported protocol version" });
  });

  for (const mode of ["websocket", "polling"]) {
    test(`socket.io-client 2.x cannot connect [${mode}]`, async () => {
      const s = ioV2(off.url, v2Options(mode));
      opened.add(s);
      const [err] = await once(s, "connect_error");
      assert.ok(err, "connect_error");
      assert.equal(s.connected, false);
    });
  }
});
