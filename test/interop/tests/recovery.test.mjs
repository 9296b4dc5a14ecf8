// Connection state recovery (https://socket.io/docs/v4/connection-state-recovery)
// with the server started with `-recovery <window>`: a client whose transport
// drops gets back its id and rooms, and every broadcast it missed exactly
// once and in order; expired, forged and live pids get a fresh session.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, collect, emitAck, sleep, waitFor, withTimeout } from "../lib/client.mjs";

// Reconnects quickly and predictably.
const RECONNECT = { reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 300, randomizationFactor: 0 };

async function until(cond, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (let i = 0; !cond(); i++) {
    if (Date.now() > deadline || i > 100000) throw new Error(`timeout: ${what}`);
    await sleep(5);
  }
}

// The numbers carried by the room-message events a client collected.
const numbers = (got) => got.map((args) => args[0]);

// Drops the transport under the client (no DISCONNECT packet): the server
// sees "transport close", the manager reconnects on its own.
function dropTransport(socket) {
  socket.io.engine.close();
}

let server;
let shortServer; // 1 s window, for expiry
before(async () => {
  [server, shortServer] = await Promise.all([
    startServer({ args: ["-recovery", "2m"] }),
    startServer({ args: ["-recovery", "1s"] }),
  ]);
});
after(async () => {
  await Promise.all([server?.stop(), shortServer?.stop()]);
});

for (const mode of MODES) {
  describe(`connection state recovery [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    test("missed room broadcasts arrive once, in order; same id and rooms; acks and events after", async () => {
      const room = `rec-${mode}`;
      const { socket: a } = await c.connect(mode, "/", { extra: RECONNECT });
      const { socket: b } = await c.connect("websocket");
      assert.ok(a._pid, "the CONNECT reply carries a pid");
      assert.equal(a.recovered, false);
      assert.deepEqual(await emitAck(a, "join", [{ room }]), [room]);
      const got = collect(a, "room-message");
      const id = a.id;

      // b broadcasts to the room every 10 ms throughout.
      let n = 0;
      const timer = setInterval(() => b.emit("to-room", { room, payload: ++n }), 10);
      try {
        await until(() => got.length >= 5, "a receives before the drop");
        const reconnected = waitFor(a.io, "reconnect");
        const disconnected = waitFor(a, "disconnect");
        dropTransport(a);
        await disconnected; // "forced close" on the client's side
        const before = got.length;
        await reconnected;
        await until(() => a.connected, "a reconnects");
        assert.equal(a.recovered, true, "socket.recovered");
        assert.equal(a.id, id, "same socket id");
        // Broadcasts sent while a was away, and after, keep coming with no
        // rejoin: a is back in the room.
        await until(() => got.length >= before + 40, "a receives after recovery");
      } finally {
        clearInterval(timer);
      }
      const last = n;
      await until(() => got.length >= last, `a receives all ${last}`);
      await sleep(200);
      const seen = numbers(got);
      assert.deepEqual(seen, Array.from({ length: last }, (_, i) => i + 1), "every broadcast once, in order");

      // Acks and events work on the recovered socket.
      assert.deepEqual(await emitAck(a, "ack-echo", ["after", 1]), ["after", 1]);
      const echoed = waitFor(a, "echo-back");
      a.emit("echo", "hello again");
      assert.equal(await echoed, "hello again");
    });

    test("a forged pid gets a fresh session", async () => {
      const { socket: victim } = await c.connect(mode, "/");
      const forged = { pid: "AAAAAAAAAAAAAAAAAAAA", offset: "1" };
      const { socket: f } = await c.connect(mode, "/", { auth: forged });
      assert.equal(f.recovered, false);
      assert.notEqual(f.id, victim.id);
      assert.ok(f._pid && f._pid !== forged.pid);
    });

    test("another live socket's pid does not take it over", async () => {
      const room = `live-${mode}`;
      const { socket: a } = await c.connect(mode, "/");
      assert.deepEqual(await emitAck(a, "join", [{ room }]), [room]);
      const got = collect(a, "room-message");
      const { socket: thief } = await c.connect(mode, "/", { auth: { pid: a._pid, offset: a._lastOffset } });
      assert.equal(thief.recovered, false);
      assert.notEqual(thief.id, a.id);
      const thiefGot = collect(thief, "room-message");
      // a is still connected, still in its room; the thief is not in it.
      thief.emit("to-room", { room, payload: "still yours" });
      await until(() => got.length === 1, "a still receives its room");
      await sleep(200);
      assert.deepEqual(thiefGot, []);
      assert.equal(a.connected, true);
    });
  });

  describe(`connection state recovery: window expiry [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(shortServer.url);
    });
    afterEach(() => c.closeAll());

    test("after the window the client gets a fresh session", async () => {
      const room = `exp-${mode}`;
      const slow = { ...RECONNECT, reconnectionDelay: 2000, reconnectionDelayMax: 2000 };
      const { socket: a } = await c.connect(mode, "/", { extra: slow });
      assert.deepEqual(await emitAck(a, "join", [{ room }]), [room]);
      const id = a.id;
      const pid = a._pid;
      const reconnected = waitFor(a.io, "reconnect", 3 * WAIT_MS);
      dropTransport(a);
      await reconnected;
      await until(() => a.connected, "a reconnects");
      assert.equal(a.recovered, false);
      assert.notEqual(a.id, id);
      assert.notEqual(a._pid, pid);
      // Not back in the room.
      const got = collect(a, "room-message");
      const { socket: b } = await c.connect("websocket");
      b.emit("to-room", { room, payload: 1 });
      await sleep(300);
      assert.deepEqual(got, []);
    });
  });
}

describe("connection state recovery: server-side drop", () => {
  let c;
  beforeEach(() => {
    c = new Clients(server.url);
  });
  afterEach(() => c.closeAll());

  test("a connection the server closes (forced close) is recovered too", async () => {
    const { socket: a } = await c.connect("websocket", "/", { extra: RECONNECT });
    const id = a.id;
    const reconnected = waitFor(a.io, "reconnect");
    a.emit("drop");
    await withTimeout(reconnected, WAIT_MS, "reconnect after drop");
    await until(() => a.connected, "a reconnects");
    assert.equal(a.recovered, true);
    assert.equal(a.id, id);
  });
});
