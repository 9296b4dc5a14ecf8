// R10 (server disconnects one namespace) and R11 (server drops the whole
// Engine.IO connection; the client reconnects on its own).
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, QUIET_MS, waitFor, emitAck, expectNone, waitUpgraded } from "../lib/client.mjs";

const RECONNECT = { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100, reconnectionAttempts: 20 };

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`disconnect [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    test("R10 server-disconnect: reason 'io server disconnect'; the other namespace stays up", async () => {
      const manager = c.manager(mode, RECONNECT);
      const root = await c.connect(mode, "/", { manager });
      const custom = await c.connect(mode, "/custom", { manager });
      const customDown = expectNone(custom.socket, "disconnect", QUIET_MS);
      const reason = waitFor(root.socket, "disconnect");
      root.socket.emit("server-disconnect");
      assert.equal(await reason, "io server disconnect");
      assert.equal(root.socket.connected, false);
      await customDown;
      assert.equal(custom.socket.connected, true);
      assert.deepEqual(await emitAck(custom.socket, "ack-echo", ["alive"]), ["alive"]);
      // Not reconnected automatically after a server-side disconnect.
      assert.equal(root.socket.connected, false);
      assert.equal(root.socket.active, false);
      // The namespace can be joined again on the same connection.
      let opens = 0;
      manager.on("open", () => opens++);
      const again = waitFor(root.socket, "welcome");
      root.socket.connect();
      const w = await again;
      assert.equal(w.nsp, "/");
      assert.equal(w.id, root.socket.id);
      assert.notEqual(w.id, root.welcome.id);
      assert.equal(opens, 0, "same Engine.IO connection");
    });

    test("R10 on /custom leaves / connected", async () => {
      const manager = c.manager(mode, RECONNECT);
      const root = await c.connect(mode, "/", { manager });
      const custom = await c.connect(mode, "/custom", { manager });
      const reason = waitFor(custom.socket, "disconnect");
      const rootDown = expectNone(root.socket, "disconnect", QUIET_MS);
      custom.socket.emit("server-disconnect");
      assert.equal(await reason, "io server disconnect");
      await rootDown;
      assert.deepEqual(await emitAck(root.socket, "ack-echo", [1]), [1]);
    });

    test("R11 drop: 'transport close' on every namespace, then automatic reconnect with a new welcome", async () => {
      const manager = c.manager(mode, RECONNECT);
      const root = await c.connect(mode, "/", { manager });
      const custom = await c.connect(mode, "/custom", { manager });
      const rootReason = waitFor(root.socket, "disconnect");
      const customReason = waitFor(custom.socket, "disconnect");
      const rootWelcome = waitFor(root.socket, "welcome", 2 * WAIT_MS);
      const customWelcome = waitFor(custom.socket, "welcome", 2 * WAIT_MS);
      const reconnected = waitFor(manager, "reconnect", 2 * WAIT_MS);
      root.socket.emit("drop");
      assert.equal(await rootReason, "transport close");
      assert.equal(await customReason, "transport close");
      await reconnected;
      const [w1, w2] = await Promise.all([rootWelcome, customWelcome]);
      assert.deepEqual(w1, { id: root.socket.id, nsp: "/", auth: {} });
      assert.deepEqual(w2, { id: custom.socket.id, nsp: "/custom", auth: {} });
      assert.notEqual(w1.id, root.welcome.id);
      assert.notEqual(w2.id, custom.welcome.id);
      if (mode === "upgrade") await waitUpgraded(manager);
      assert.deepEqual(await emitAck(root.socket, "ack-echo", ["back"]), ["back"]);
      assert.deepEqual(await emitAck(custom.socket, "ack-echo", ["back"]), ["back"]);
    });

    test("client-side disconnect then reconnect gets a new welcome", async () => {
      const { socket, welcome } = await c.connect(mode, "/", { extra: RECONNECT });
      socket.disconnect();
      assert.equal(socket.connected, false);
      const again = waitFor(socket, "welcome");
      socket.connect();
      const w = await again;
      assert.equal(w.id, socket.id);
      assert.notEqual(w.id, welcome.id);
    });
  });
}
