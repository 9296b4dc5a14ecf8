// The official client in Node against Caddyfile.example, over each
// transport: greeting, /system notice, rooms and relayed chat messages.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startCaddy, within } from "../lib/caddy.mjs";
import { connect, next, emitAck, WAIT } from "../lib/client.mjs";

let caddy;
before(async () => { caddy = await startCaddy(); });
after(async () => { await caddy?.stop(); });

const modes = {
  websocket: { transports: ["websocket"] },
  polling: { transports: ["polling"] },
  upgrade: {}, // the client's default: polling, then upgrade to websocket
};

for (const [mode, opts] of Object.entries(modes)) {
  test(`seed chat over ${mode}`, async () => {
    const sockets = [];
    try {
      let hello;
      const a = await connect(caddy.url, opts, (s) => { hello = next(s, "hello"); });
      sockets.push(a);
      assert.deepEqual(await hello, [{ message: "Welcome to Socket io ~" }]);

      let notice;
      const sys = await connect(caddy.url + "/system", opts, (s) => { notice = next(s, "message"); });
      sockets.push(sys);
      assert.deepEqual(await notice, ["Notice !"]);

      const b = await connect(caddy.url, opts);
      const c = await connect(caddy.url, opts);
      sockets.push(b, c);
      const room = `room-${mode}`;
      assert.equal(await emitAck(a, "joinRoom", { room }), room);
      assert.equal(await emitAck(b, "joinRoom", { room }), room);
      assert.equal(await emitAck(c, "joinRoom", { room: `${room}-other` }), `${room}-other`);

      const cGot = [];
      c.on("chatMessage", (m) => cGot.push(m));
      const atA = next(a, "chatMessage", "chatMessage at a");
      const atB = next(b, "chatMessage", "chatMessage at b");
      a.emit("chatInput", { nick: "a", msg: `hello over ${mode}` });
      assert.deepEqual(await atA, [{ nick: "a", msg: `hello over ${mode}` }]);
      assert.deepEqual(await atB, [{ nick: "a", msg: `hello over ${mode}` }]);
      // c is in another room: the first chat message it sees is its own.
      const marker = next(c, "chatMessage", "marker at c");
      c.emit("chatInput", { msg: "marker" });
      assert.deepEqual(await marker, [{ msg: "marker" }]);
      assert.deepEqual(cGot, [{ msg: "marker" }]);

      if (mode === "upgrade") {
        const engine = a.io.engine;
        if (engine.transport.name !== "websocket") {
          await within(WAIT, new Promise((r) => engine.once("upgrade", r)), "upgrade");
        }
        assert.equal(engine.transport.name, "websocket");
      } else {
        assert.equal(a.io.engine.transport.name, opts.transports[0]);
      }
    } finally {
      for (const s of sockets) s.disconnect();
    }
  });
}

test("unknown namespace is refused", async () => {
  await assert.rejects(connect(caddy.url + "/nope", { transports: ["websocket"] }), /Invalid namespace/);
});

test("dynamic namespace from a pattern", async () => {
  const a = await connect(caddy.url + "/room-42", { transports: ["websocket"] });
  const b = await connect(caddy.url + "/room-42", { transports: ["polling"] });
  try {
    const atB = next(b, "chatMessage");
    a.emit("chatInput", { nick: "a", msg: "in room-42" });
    assert.deepEqual(await atB, [{ nick: "a", msg: "in room-42" }]);
  } finally {
    a.disconnect();
    b.disconnect();
  }
});
