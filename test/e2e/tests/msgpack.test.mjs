// Both parsers on one Caddy (Caddyfile.example, `parser auto`): the official
// client with socket.io-msgpack-parser and a default-parser client in one
// room of the seed chat, chat messages with binary both ways, over each
// transport; and the served socket.io.msgpack.min.js bundle in headless
// Chromium talking to a default-parser client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import * as msgpackParser from "socket.io-msgpack-parser";
import { startCaddy } from "../lib/caddy.mjs";
import { connect, next, emitAck } from "../lib/client.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = 10_000;

let caddy;
before(async () => { caddy = await startCaddy(); });
after(async () => { await caddy?.stop(); });

const modes = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: {},
};

for (const [mode, opts] of Object.entries(modes)) {
  test(`msgpack and default-parser clients share a room over ${mode}`, async () => {
    const sockets = [];
    try {
      let hello;
      const m = await connect(caddy.url, { ...opts, parser: msgpackParser }, (s) => { hello = next(s, "hello"); });
      sockets.push(m);
      assert.deepEqual(await hello, [{ message: "Welcome to Socket io ~" }], "greeting in msgpack");
      const d = await connect(caddy.url, opts);
      sockets.push(d);
      const room = `mixed-${mode}`;
      assert.equal(await emitAck(m, "joinRoom", { room }), room);
      assert.equal(await emitAck(d, "joinRoom", { room }), room);

      const fromM = { nick: "m", msg: "from msgpack", bin: Buffer.from([1, 2, 3, 250]), n: 1.5 };
      let atM = next(m, "chatMessage", "chatMessage at m");
      let atD = next(d, "chatMessage", "chatMessage at d");
      m.emit("chatInput", fromM);
      assert.deepEqual(await atM, [fromM]);
      const [gotD] = await atD;
      assert.deepEqual(gotD, fromM);
      assert.ok(Buffer.isBuffer(gotD.bin), "binary stays binary for the default parser");

      const fromD = { nick: "d", msg: "from default", bin: Buffer.from([9, 8]) };
      atM = next(m, "chatMessage", "chatMessage at m");
      atD = next(d, "chatMessage", "chatMessage at d");
      d.emit("chatInput", fromD);
      const [gotM] = await atM;
      assert.deepEqual(gotM, fromD);
      assert.ok(Buffer.isBuffer(gotM.bin), "binary stays binary for msgpack");
      assert.deepEqual(await atD, [fromD]);
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });
}

test("the served socket.io.msgpack.min.js bundle in Chromium", async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 30_000,
  });
  const d = await connect(caddy.url, { transports: ["websocket"] });
  try {
    const page = await browser.newPage();
    page.setDefaultTimeout(WAIT);
    const errors = [];
    page.on("pageerror", (err) => errors.push(err));
    await page.goto(caddy.url + "/"); // the chat page (default parser); the msgpack bundle then replaces window.io
    await page.addScriptTag({ url: "/socket.io/socket.io.msgpack.min.js" });
    assert.equal(await emitAck(d, "joinRoom", { room: "browser" }), "browser");
    const atD = next(d, "chatMessage", "chatMessage from the browser");
    const fromBrowser = page.evaluate(async (wait) => {
      const socket = io({ transports: ["polling", "websocket"], reconnection: false }); // eslint-disable-line no-undef
      const once = (ev) => new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no ${ev}`)), wait);
        socket.once(ev, (...a) => { clearTimeout(t); resolve(a); });
      });
      const hello = once("hello");
      await once("connect");
      const greeting = (await hello)[0];
      const room = await socket.timeout(wait).emitWithAck("joinRoom", { room: "browser" });
      const back = once("chatMessage");
      // The browser build of notepack.io writes an ArrayBuffer as binary (a typed
      // array would become an object with numeric keys, for any server).
      socket.emit("chatInput", { nick: "browser", bin: new Uint8Array([7, 7, 7]).buffer });
      await back;
      const reply = once("chatMessage");
      window.__ready = true;
      const [msg] = await reply;
      socket.disconnect();
      return { greeting, room, nick: msg.nick, bin: Array.from(new Uint8Array(msg.bin)), isBinary: msg.bin instanceof ArrayBuffer || ArrayBuffer.isView(msg.bin) };
    }, WAIT);
    fromBrowser.catch(() => {}); // awaited below; a failure before that must not be an unhandled rejection
    const [got] = await atD;
    assert.equal(got.nick, "browser");
    assert.ok(Buffer.isBuffer(got.bin) && got.bin.equals(Buffer.from([7, 7, 7])), "the browser's bytes arrive as binary");
    await page.waitForFunction(() => window.__ready === true);
    d.emit("chatInput", { nick: "node", bin: Buffer.from([1, 2]) });
    const res = await fromBrowser;
    assert.deepEqual(res, { greeting: { message: "Welcome to Socket io ~" }, room: "browser", nick: "node", bin: [1, 2], isBinary: true });
    assert.deepEqual(errors, []);
  } finally {
    d.disconnect();
    await browser.close();
  }
});
