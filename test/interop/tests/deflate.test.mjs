// permessage-deflate against a server started with -websocket-compression
// (Node: perMessageDeflate {threshold: 1024}): negotiated with the `ws`
// package and socket.io-client, a 100 KB JSON message round-trips, fewer
// bytes cross the TCP connection than without compression, and a deflate
// bomb over max_payload inflated is closed with 1009 without the server's
// memory growing by the bomb's size.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import WebSocket from "ws";
import { startServer } from "../lib/server.mjs";
import { Clients, WAIT_MS, waitFor, withTimeout } from "../lib/client.mjs";

function bigJSON() {
  const items = [];
  for (let i = 0; items.length < 1400; i++) items.push({ user: `user${i % 7}`, text: "hello there, how are you today?", n: i });
  return { items }; // about 100 KB as JSON
}

// Opens a raw Engine.IO v4 websocket, joins "/" and resolves once welcomed.
async function rawSocket(url, perMessageDeflate) {
  const ws = new WebSocket(`${url.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`, { perMessageDeflate });
  const frames = [];
  let waiter = null;
  ws.on("message", (data, isBinary) => {
    const s = isBinary ? data : data.toString();
    if (s === "2") {
      ws.send("3");
      return;
    }
    frames.push(s);
    if (waiter) waiter();
  });
  const next = async (pred) => {
    const deadline = Date.now() + WAIT_MS;
    for (let i = 0; i < 10000; i++) {
      const k = frames.findIndex(pred);
      if (k >= 0) return frames.splice(k, 1)[0];
      if (Date.now() > deadline) throw new Error("timeout waiting for a frame");
      await new Promise((r) => {
        waiter = r;
        setTimeout(r, 50);
      });
    }
    throw new Error("no frame");
  };
  await withTimeout(new Promise((r, j) => (ws.once("open", r), ws.once("error", j))), WAIT_MS, "ws open");
  await next((f) => f.startsWith("0{"));
  ws.send("40");
  await next((f) => f.startsWith("40"));
  await next((f) => f.startsWith('42["welcome"'));
  return { ws, next };
}

function rss(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m[1]) * 1024;
}

let server;
before(async () => {
  server = await startServer({ args: ["-websocket-compression"] });
});
after(async () => {
  await server?.stop();
});

describe("permessage-deflate with ws", () => {
  test("negotiated; 100 KB JSON round-trips; fewer bytes on the wire", async () => {
    const payload = bigJSON();
    const text = `42["echo",${JSON.stringify(payload)}]`;
    assert.ok(text.length > 90_000, `${text.length}`);
    const wire = {};
    for (const deflate of [false, true]) {
      const { ws, next } = await rawSocket(server.url, deflate);
      try {
        assert.equal(ws.extensions.includes("permessage-deflate"), deflate, ws.extensions);
        const sock = ws._socket;
        const before = sock.bytesRead + sock.bytesWritten;
        ws.send(text);
        const back = await next((f) => f.startsWith('42["echo-back"'));
        assert.deepEqual(JSON.parse(back.slice(2)), ["echo-back", payload]);
        wire[deflate] = sock.bytesRead + sock.bytesWritten - before;
      } finally {
        ws.close();
      }
    }
    console.log(`# 100 KB JSON echo: ${wire.false} bytes on the wire uncompressed, ${wire.true} compressed`);
    assert.ok(wire.true * 5 < wire.false, `compressed ${wire.true}, uncompressed ${wire.false}`);
  });

  test("a deflate bomb over max_payload inflated is closed with 1009, memory bounded", async () => {
    const { ws } = await rawSocket(server.url, true);
    const pid = server.pid;
    const before = rss(pid);
    // 64 MB of zeros: about 64 KB compressed, well under max_payload (1 MB)
    // on the wire, 64 times over it inflated.
    const closed = new Promise((resolve) => ws.once("close", (code) => resolve(code)));
    ws.send("4" + "0".repeat(64 << 20));
    const code = await withTimeout(closed, WAIT_MS, "close after the bomb");
    assert.equal(code, 1009);
    const grown = rss(pid) - before;
    assert.ok(grown < 24 << 20, `server RSS grew by ${grown} bytes`);
  });
});

describe("permessage-deflate with socket.io-client", () => {
  for (const mode of ["websocket", "upgrade"]) {
    test(`negotiated and a 100 KB JSON event round-trips [${mode}]`, async () => {
      const c = new Clients(server.url);
      try {
        const { socket } = await c.connect(mode, "/", { extra: { perMessageDeflate: { threshold: 1024 } } });
        const ws = socket.io.engine.transport.ws;
        assert.ok(ws.extensions.includes("permessage-deflate"), JSON.stringify(ws.extensions));
        const payload = bigJSON();
        const back = waitFor(socket, "echo-back");
        socket.emit("echo", payload);
        assert.deepEqual(await back, payload);
        const bin = Buffer.alloc(50_000, 3);
        const backBin = waitFor(socket, "echo-back");
        socket.emit("echo", bin);
        assert.deepEqual(Buffer.from(await backBin), bin);
      } finally {
        c.closeAll();
      }
    });
  }
});
