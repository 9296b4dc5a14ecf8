// Rooms (R4–R7) with three clients, and namespace-wide broadcast (R8).
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, QUIET_MS, collect, emitAck, sleep } from "../lib/client.mjs";

// Waits until `got` (from collect()) has at least n entries; bounded.
async function until(got, n, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (let i = 0; got.length < n; i++) {
    if (Date.now() > deadline || i > 100000) throw new Error(`timeout: ${what} (have ${got.length}, want ${n})`);
    await sleep(5);
  }
}

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`rooms [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    async function three(nsp = "/") {
      const [a, b, cc] = await Promise.all([c.connect(mode, nsp), c.connect(mode, nsp), c.connect(mode, nsp)]);
      return [a.socket, b.socket, cc.socket];
    }

    test("R4–R7 with a, b in the room and c outside", async () => {
      const room = `r1-${mode}`;
      const [a, b, cc] = await three();
      const got = { a: collect(a, "room-message"), b: collect(b, "room-message"), c: collect(cc, "room-message") };

      assert.deepEqual(await emitAck(a, "join", [{ room }]), [room]);
      assert.deepEqual(await emitAck(b, "join", [{ room }]), [room]);

      // R6 from a member: a and b, not c.
      a.emit("to-room", { room, payload: { n: 1, text: "hi room" } });
      await until(got.a, 1, "a gets room-message");
      await until(got.b, 1, "b gets room-message");
      await sleep(QUIET_MS);
      assert.deepEqual(got.a, [[{ n: 1, text: "hi room" }]]);
      assert.deepEqual(got.b, [[{ n: 1, text: "hi room" }]]);
      assert.deepEqual(got.c, []);

      // R7 from a: only b.
      a.emit("to-room-others", { room, payload: "others only" });
      await until(got.b, 2, "b gets room-message (others)");
      await sleep(QUIET_MS);
      assert.deepEqual(got.a, [[{ n: 1, text: "hi room" }]]);
      assert.deepEqual(got.b[1], ["others only"]);
      assert.equal(got.b.length, 2);
      assert.deepEqual(got.c, []);

      // R6 from a non-member: members only.
      cc.emit("to-room", { room, payload: ["from", "outside"] });
      await until(got.a, 2, "a gets room-message from outside");
      await until(got.b, 3, "b gets room-message from outside");
      await sleep(QUIET_MS);
      assert.deepEqual(got.a[1], [["from", "outside"]]);
      assert.deepEqual(got.b[2], [["from", "outside"]]);
      assert.equal(got.a.length, 2);
      assert.equal(got.b.length, 3);
      assert.deepEqual(got.c, []);

      // R5: b leaves, then only a gets messages.
      assert.deepEqual(await emitAck(b, "leave", [{ room }]), [room]);
      a.emit("to-room", { room, payload: "after leave" });
      await until(got.a, 3, "a gets room-message after b left");
      await sleep(QUIET_MS);
      assert.deepEqual(got.a[2], ["after leave"]);
      assert.equal(got.b.length, 3, "b left the room");
      assert.deepEqual(got.c, []);
    });

    test("R4/R5 join and leave without an ack still work", async () => {
      const room = `noack-${mode}`;
      const [a, b] = await three();
      const gotB = collect(b, "room-message");
      b.emit("join", { room });
      // Ordering on b's connection: the ack-echo reply comes after the join is done.
      await emitAck(b, "ack-echo", []);
      a.emit("to-room", { room, payload: 1 });
      await until(gotB, 1, "b gets room-message");
      b.emit("leave", { room });
      await emitAck(b, "ack-echo", []);
      a.emit("to-room", { room, payload: 2 });
      await sleep(QUIET_MS);
      assert.deepEqual(gotB, [[1]]);
    });

    test("a socket can be in several rooms; rooms are per namespace", async () => {
      const [a, b] = await three();
      const custom = (await c.connect(mode, "/custom")).socket;
      const gotA = collect(a, "room-message");
      const gotB = collect(b, "room-message");
      const gotCustom = collect(custom, "room-message");
      for (const room of ["x", "y"]) assert.deepEqual(await emitAck(a, "join", [{ room }]), [room]);
      assert.deepEqual(await emitAck(b, "join", [{ room: "y" }]), ["y"]);
      assert.deepEqual(await emitAck(custom, "join", [{ room: "x" }]), ["x"]);
      b.emit("to-room", { room: "x", payload: "x1" });
      b.emit("to-room", { room: "y", payload: "y1" });
      await until(gotA, 2, "a gets x1 and y1");
      await until(gotB, 1, "b gets y1");
      await sleep(QUIET_MS);
      assert.deepEqual(gotA, [["x1"], ["y1"]]);
      assert.deepEqual(gotB, [["y1"]]);
      assert.deepEqual(gotCustom, [], "room x on /custom is a different room");
    });
  });

  describe(`broadcast [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    test("R8 reaches every socket of the namespace, sender included; /custom gets nothing", async () => {
      const [a, b, d] = await Promise.all([c.connect(mode, "/"), c.connect(mode, "/"), c.connect(mode, "/custom")]);
      const got = {
        a: collect(a.socket, "broadcast-message"),
        b: collect(b.socket, "broadcast-message"),
        d: collect(d.socket, "broadcast-message"),
      };
      const payload = { from: "a", list: [1, 2, 3], mode };
      a.socket.emit("broadcast", payload);
      await until(got.a, 1, "a gets broadcast-message");
      await until(got.b, 1, "b gets broadcast-message");
      await sleep(QUIET_MS);
      assert.deepEqual(got.a, [[payload]]);
      assert.deepEqual(got.b, [[payload]]);
      assert.deepEqual(got.d, []);

      // And the other way round: /custom broadcasts stay on /custom.
      const e = await c.connect(mode, "/custom");
      const gotE = collect(e.socket, "broadcast-message");
      d.socket.emit("broadcast", "custom only");
      await until(got.d, 1, "d gets its own broadcast");
      await until(gotE, 1, "e gets the /custom broadcast");
      await sleep(QUIET_MS);
      assert.equal(got.a.length, 1);
      assert.equal(got.b.length, 1);
      assert.deepEqual(got.d, [["custom only"]]);
      assert.deepEqual(gotE, [["custom only"]]);
    });
  });
}

