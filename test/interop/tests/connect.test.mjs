// R1 (welcome + auth), namespace multiplexing, refused namespaces.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, waitFor, emitAck } from "../lib/client.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`connect [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    test("R1 welcome without auth: {id, nsp: '/', auth: {}}", async () => {
      const { socket, welcome } = await c.connect(mode, "/");
      assert.deepEqual(welcome, { id: socket.id, nsp: "/", auth: {} });
      assert.equal(typeof socket.id, "string");
      assert.ok(socket.id.length > 0);
      if (mode === "upgrade") assert.equal(socket.io.engine.transport.name, "websocket");
      else assert.equal(socket.io.engine.transport.name, mode);
    });

    test("R1 welcome echoes the auth payload, on / and /custom", async () => {
      const auth = { token: "abc", n: 42, nested: { list: [1, "two", null, true] }, s: "héllo 😀" };
      const a = await c.connect(mode, "/", { auth });
      assert.deepEqual(a.welcome, { id: a.socket.id, nsp: "/", auth });
      const b = await c.connect(mode, "/custom", { auth });
      assert.deepEqual(b.welcome, { id: b.socket.id, nsp: "/custom", auth });
      assert.notEqual(a.socket.id, b.socket.id);
    });

    test("several namespaces multiplexed on one connection", async () => {
      const manager = c.manager(mode);
      let opens = 0;
      manager.on("open", () => opens++);
      const root = await c.connect(mode, "/", { manager });
      const custom = await c.connect(mode, "/custom", { manager, auth: { who: "custom" } });
      assert.equal(root.socket.io, manager);
      assert.equal(custom.socket.io, manager);
      assert.equal(opens, 1, "one Engine.IO connection");
      assert.deepEqual(root.welcome, { id: root.socket.id, nsp: "/", auth: {} });
      assert.deepEqual(custom.welcome, { id: custom.socket.id, nsp: "/custom", auth: { who: "custom" } });
      assert.notEqual(root.socket.id, custom.socket.id);
      // Events stay in their namespace.
      const rootEcho = waitFor(root.socket, "echo-back");
      const customEcho = waitFor(custom.socket, "echo-back");
      custom.socket.emit("echo", "to-custom");
      root.socket.emit("echo", "to-root");
      assert.equal(await customEcho, "to-custom");
      assert.equal(await rootEcho, "to-root");
      assert.deepEqual(await emitAck(custom.socket, "ack-echo", ["x"]), ["x"]);
      assert.equal(opens, 1);
    });

    test("/private without token is refused with 'unauthorized' (no data)", async () => {
      const socket = c.open(mode, "/private");
      const err = await waitFor(socket, "connect_error");
      assert.ok(err instanceof Error);
      assert.equal(err.message, "unauthorized");
      assert.equal(err.data, undefined);
      assert.equal(socket.connected, false);
    });

    test("/private with a wrong token is refused", async () => {
      const socket = c.open(mode, "/private", { auth: { token: "nope" } });
      const err = await waitFor(socket, "connect_error");
      assert.equal(err.message, "unauthorized");
      assert.equal(err.data, undefined);
    });

    test("/private with token 'secret' connects and runs the rules", async () => {
      const { socket, welcome } = await c.connect(mode, "/private", { auth: { token: "secret" } });
      assert.deepEqual(welcome, { id: socket.id, nsp: "/private", auth: { token: "secret" } });
      assert.deepEqual(await emitAck(socket, "ack-echo", [1, "a"]), [1, "a"]);
    });

    test("unknown namespace /nope: connect_error 'Invalid namespace'", async () => {
      const socket = c.open(mode, "/nope");
      const err = await waitFor(socket, "connect_error");
      assert.equal(err.message, "Invalid namespace");
      assert.equal(err.data, undefined);
    });

    test("a refused namespace does not disturb another one on the same connection", async () => {
      const manager = c.manager(mode);
      const root = await c.connect(mode, "/", { manager });
      const priv = c.open(mode, "/private", { manager });
      const nope = c.open(mode, "/nope", { manager });
      const [privErr, nopeErr] = await Promise.all([waitFor(priv, "connect_error"), waitFor(nope, "connect_error")]);
      assert.equal(privErr.message, "unauthorized");
      assert.equal(nopeErr.message, "Invalid namespace");
      assert.equal(root.socket.connected, true);
      assert.deepEqual(await emitAck(root.socket, "ack-echo", ["still here"]), ["still here"]);
      const ok = await c.connect(mode, "/private", { manager: c.manager(mode), auth: { token: "secret" } });
      assert.equal(ok.welcome.nsp, "/private");
    });
  });
}
