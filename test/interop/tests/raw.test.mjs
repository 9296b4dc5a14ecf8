// Raw Engine.IO / Socket.IO checks over HTTP (fetch) and a bare websocket,
// per "What raw clients see" in examples/conformance/README.md.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import WebSocket from "ws";
import { startServer } from "../lib/server.mjs";
import { WAIT_MS, sleep, withTimeout } from "../lib/client.mjs";

// Non-default values prove the flags reach the server; long enough that a loaded
// machine does not lose sessions to ping timeouts mid-test.
const PING_INTERVAL = 2500;
const PING_TIMEOUT = 3000;
const HTTP_TIMEOUT_MS = WAIT_MS;
const HANDSHAKE_KEYS = ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"];

let server;
let base; // http://127.0.0.1:port/socket.io/
before(async () => {
  server = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
  base = `${server.url}/socket.io/`;
});
after(async () => {
  await server?.stop();
});

async function req(query, init = {}) {
  const res = await fetch(base + query, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), ...init });
  const body = await res.text();
  return { status: res.status, type: res.headers.get("content-type") || "", body };
}

async function handshake() {
  const res = await req("?EIO=4&transport=polling");
  assert.equal(res.status, 200, res.body);
  assert.equal(res.body[0], "0");
  return JSON.parse(res.body.slice(1));
}

const sessionQuery = (sid) => `?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
const post = (sid, body) => req(sessionQuery(sid), { method: "POST", body, headers: { "content-type": "text/plain;charset=UTF-8" } });
const get = (sid) => req(sessionQuery(sid));

// GETs (answering pings) until `want(packets)` is true; bounded.
async function pollUntil(sid, want, what) {
  const packets = [];
  for (let i = 0; i < 10; i++) {
    const res = await get(sid);
    assert.equal(res.status, 200, `poll for ${what}: ${res.status} ${res.body}`);
    for (const p of res.body.split("\x1e")) {
      if (p === "2") await post(sid, "3");
      else packets.push(p);
    }
    if (want(packets)) return packets;
  }
  throw new Error(`no ${what} after 10 polls: ${JSON.stringify(packets)}`);
}

// Opens a polling session connected to "/" and drains the welcome.
async function socketSession() {
  const { sid } = await handshake();
  assert.equal((await post(sid, "40")).body, "ok");
  const packets = await pollUntil(sid, (ps) => ps.some((p) => p.startsWith('42["welcome"')), "welcome");
  return { sid, packets };
}

describe("raw polling", () => {
  test("handshake: 200, text/plain, exactly the 5 keys, upgrades [websocket], flag values", async () => {
    const res = await req("?EIO=4&transport=polling");
    assert.equal(res.status, 200);
    assert.match(res.type, /^text\/plain/);
    assert.equal(res.body[0], "0");
    const open = JSON.parse(res.body.slice(1));
    assert.deepEqual(Object.keys(open).sort(), HANDSHAKE_KEYS);
    assert.equal(typeof open.sid, "string");
    assert.match(open.sid, /^[A-Za-z0-9_-]{16,}$/);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, PING_INTERVAL);
    assert.equal(open.pingTimeout, PING_TIMEOUT);
    assert.equal(open.maxPayload, 1000000);
    const other = await handshake();
    assert.notEqual(other.sid, open.sid, "sids are unique");
  });

  const errors = [
    ["GET", "?EIO=4", 0, "Transport unknown"],
    ["GET", "?EIO=4&transport=carrier-pigeon", 0, "Transport unknown"],
    ["GET", "?EIO=4&transport=polling&sid=doesnotexist1234567", 1, "Session ID unknown"],
    ["POST", "?EIO=4&transport=polling", 2, "Bad handshake method"],
    ["GET", "?EIO=4&transport=websocket", 3, "Bad request"],
    ["GET", "?transport=polling", 5, "Unsupported protocol version"],
    ["GET", "?EIO=abc&transport=polling", 5, "Unsupported protocol version"],
    ["GET", "?EIO=3&transport=polling", 5, "Unsupported protocol version"],
  ];
  for (const [method, query, code, message] of errors) {
    test(`error ${code} "${message}": ${method} ${query}`, async () => {
      const init = method === "POST" ? { method, body: "40" } : { method };
      const res = await req(query, init);
      assert.equal(res.status, 400);
      assert.match(res.type, /^application\/json/);
      assert.deepEqual(JSON.parse(res.body), { code, message });
    });
  }

  test("CONNECT, welcome, ack-echo and echo over raw polling", async () => {
    const { sid, packets } = await socketSession();
    const connect = packets.find((p) => p.startsWith("40"));
    assert.ok(connect, JSON.stringify(packets));
    const reply = JSON.parse(connect.slice(2));
    assert.equal(typeof reply.sid, "string");
    const welcome = JSON.parse(packets.find((p) => p.startsWith('42["welcome"')).slice(2));
    assert.deepEqual(welcome, ["welcome", { id: reply.sid, nsp: "/", auth: {} }]);

    assert.equal((await post(sid, '4212["ack-echo","x",{"y":[1,null]}]')).body, "ok");
    let got = await pollUntil(sid, (ps) => ps.length > 0, "ack");
    assert.deepEqual(got, ['4312["x",{"y":[1,null]}]']);

    assert.equal((await post(sid, '42["echo",1]\x1e42["echo","two"]')).body, "ok");
    got = await pollUntil(sid, (ps) => ps.length >= 2, "echo-back x2");
    assert.deepEqual(got, ['42["echo-back",1]', '42["echo-back","two"]']);
  });

  test("binary attachments arrive as base64 packets after the placeholder packet", async () => {
    const { sid } = await socketSession();
    assert.equal((await post(sid, '451-["echo",{"_placeholder":true,"num":0}]\x1ebAQID')).body, "ok");
    const got = await pollUntil(sid, (ps) => ps.length >= 2, "binary echo-back");
    assert.equal(got.length, 2);
    assert.deepEqual(JSON.parse(got[0].replace(/^451-/, "")), ["echo-back", { _placeholder: true, num: 0 }]);
    assert.equal(got[1], "bAQID");
  });

  test("POST larger than maxPayload → 413", async () => {
    const { sid } = await handshake();
    const res = await post(sid, "4" + "x".repeat(1_000_001));
    assert.equal(res.status, 413);
  });

  test("undecodable Engine.IO packet (abc) closes the session", async () => {
    const { sid } = await handshake();
    try {
      await post(sid, "abc"); // Node destroys this request without a response
    } catch {
      // expected with the reference server
    }
    const res = await get(sid);
    assert.equal(res.status, 400);
  });

  for (const bad of ["4abc", "42{}", "42abc[1]"]) {
    test(`undecodable Socket.IO packet ${JSON.stringify(bad)} closes the session`, async () => {
      const { sid } = await socketSession();
      await post(sid, bad).catch(() => {});
      let closed = false;
      // Keep answering pings, so only the bad packet can close the session.
      for (let i = 0; i < 3 && !closed; i++) {
        const res = await get(sid);
        const packets = res.body.split("\x1e");
        closed = res.status === 400 || packets.includes("1");
        if (!closed && packets.includes("2")) await post(sid, "3");
      }
      assert.ok(closed, "session still open");
      assert.equal((await get(sid)).status, 400);
    });
  }

  test("two concurrent GETs: the second gets 400 and the session is closed", async () => {
    const { sid } = await socketSession();
    // Pending GET first; then a second one while it is held.
    const first = get(sid);
    await sleep(50);
    const second = await get(sid);
    assert.equal(second.status, 400);
    const firstRes = await first;
    assert.equal(firstRes.status, 200);
    assert.ok(firstRes.body.split("\x1e").includes("1"), `first GET: ${JSON.stringify(firstRes.body)}`);
    assert.equal((await get(sid)).status, 400);
  });

  test("no pong within pingTimeout closes the session (own server, 300/300 ms)", async () => {
    const fast = await startServer({ pingInterval: 300, pingTimeout: 300 });
    try {
      const url = `${fast.url}/socket.io/?EIO=4&transport=polling`;
      const hs = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) }).then((r) => r.text());
      const { sid, pingInterval, pingTimeout } = JSON.parse(hs.slice(1));
      assert.deepEqual([pingInterval, pingTimeout], [300, 300]);
      const poll = () => fetch(`${url}&sid=${encodeURIComponent(sid)}`, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      const ping = await poll();
      assert.equal(ping.status, 200);
      assert.equal(await ping.text(), "2");
      await sleep(300 + 1000);
      const res = await poll();
      await res.text();
      assert.equal(res.status, 400);
    } finally {
      await fast.stop();
    }
  });

  test("client bundle: /socket.io/socket.io.js and socket.io.min.js", async () => {
    for (const file of ["socket.io.js", "socket.io.min.js"]) {
      const res = await req(file);
      assert.equal(res.status, 200, file);
      assert.match(res.type, /javascript/, file);
      assert.match(res.body.slice(0, 300), /Socket\.IO v4\.8\.\d+/, file);
    }
  });
});

function openWs(query) {
  const ws = new WebSocket(`${base.replace(/^http/, "ws")}${query}`);
  const messages = [];
  const waiters = [];
  ws.on("message", (data, isBinary) => {
    messages.push(isBinary ? data : data.toString());
    while (waiters.length) waiters.shift()();
  });
  ws.on("error", () => {});
  async function next(what, ms = HTTP_TIMEOUT_MS) {
    const deadline = Date.now() + ms;
    while (messages.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for ${what}`);
      await new Promise((resolve) => {
        const t = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return messages.shift();
  }
  return { ws, next };
}

describe("raw websocket", () => {
  test("open packet has upgrades [] and the same 5 keys; CONNECT and echo work", async () => {
    const { ws, next } = openWs("?EIO=4&transport=websocket");
    try {
      const open = await next("open packet");
      assert.equal(open[0], "0");
      const hs = JSON.parse(open.slice(1));
      assert.deepEqual(Object.keys(hs).sort(), HANDSHAKE_KEYS);
      assert.deepEqual(hs.upgrades, []);
      ws.send("40");
      let msg = await next("CONNECT reply");
      assert.match(msg, /^40\{"sid":"[^"]+"\}$/);
      msg = await next("welcome");
      assert.match(msg, /^42\["welcome",/);
      ws.send('451-["echo",{"_placeholder":true,"num":0}]');
      ws.send(Buffer.from([1, 2, 3]));
      for (let i = 0; i < 5; i++) {
        msg = await next("binary echo-back header");
        if (msg !== "2") break;
        ws.send("3");
      }
      assert.deepEqual(JSON.parse(msg.replace(/^451-/, "")), ["echo-back", { _placeholder: true, num: 0 }]);
      const bin = await next("attachment");
      assert.ok(Buffer.isBuffer(bin));
      assert.deepEqual([...bin], [1, 2, 3]);
    } finally {
      ws.terminate();
    }
  });

  test("websocket upgrade for an unknown sid is refused with HTTP 400", async () => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}?EIO=4&transport=websocket&sid=doesnotexist1234567`);
    try {
      const status = await withTimeout(
        new Promise((resolve, reject) => {
          ws.on("unexpected-response", (_req, res) => {
            resolve(res.statusCode);
            res.resume();
          });
          ws.on("open", () => reject(new Error("websocket opened")));
          ws.on("error", () => {});
        }),
        HTTP_TIMEOUT_MS,
        "refusal",
      );
      assert.equal(status, 400);
    } finally {
      ws.terminate();
    }
  });
});
