// socket.io-client with socket.io-msgpack-parser (the parser of the served
// socket.io.msgpack.min.js) against the Go fixture, which detects each
// connection's parser: connect and welcome (R1), echo and ack-echo with
// binary at any depth (R2, R3), namespaces with auth, the server asking with
// an ack (R9), and a msgpack client sharing a room with a default-parser
// client, events both ways with binary (R6). The official Node server
// serves one parser at a time, so this file runs only against SERVER_BIN.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import * as msgpackParser from "socket.io-msgpack-parser";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, QUIET_MS, waitFor, waitForArgs, emitAck, collect, sleep } from "../lib/client.mjs";

const skip = process.env.SERVER_BIN ? false : "the Node reference server serves one parser at a time";

function bytes(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 13 + seed * 5) & 0xff;
  return b;
}

const NESTED = {
  top: bytes(16, 1),
  meta: { name: "file.bin", size: 3, ratio: 0.25, neg: -40000, big: 2 ** 40, flags: [true, false, null] },
  deep: { a: { b: { c: bytes(300, 2), label: "c" } } },
  list: [1, "two", bytes(1, 3), [null, [bytes(70000, 4)]], { inner: bytes(3, 5) }],
};

async function until(got, n, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (let i = 0; got.length < n; i++) {
    if (Date.now() > deadline || i > 100000) throw new Error(`timeout: ${what} (have ${got.length}, want ${n})`);
    await sleep(5);
  }
}

let server;
before(async () => {
  if (!skip) server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`msgpack parser [${mode}]`, { skip }, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    const mp = (nsp = "/", opts = {}) => c.connect(mode, nsp, { ...opts, extra: { parser: msgpackParser } });

    test("R1 connect and welcome", async () => {
      const { socket, welcome } = await mp();
      assert.deepEqual(welcome, { id: socket.id, nsp: "/", auth: {} });
    });

    test("R2/R3 echo and ack-echo keep binary, numbers and nesting", async () => {
      const { socket } = await mp();
      const back = waitForArgs(socket, "echo-back");
      socket.emit("echo", NESTED, "x", 7);
      assert.deepEqual(await back, [NESTED, "x", 7]);
      assert.ok(Buffer.isBuffer((await emitAck(socket, "ack-echo", [bytes(5, 6)]))[0]), "ack keeps a Buffer");
      assert.deepEqual(await emitAck(socket, "ack-echo", [NESTED, 1.5, -3]), [NESTED, 1.5, -3]);
    });

    test("a Date goes to the server and back as a Date", async () => {
      const { socket } = await mp();
      const when = new Date(1700000000123);
      const [back] = await emitAck(socket, "ack-echo", [{ when }]);
      assert.ok(back.when instanceof Date, `got ${Object.prototype.toString.call(back.when)}`);
      assert.equal(back.when.getTime(), when.getTime());
    });

    test("namespaces with auth, and a refused one", async () => {
      const { welcome } = await mp("/private", { auth: { token: "secret" } });
      assert.deepEqual(welcome.auth, { token: "secret" });
      const refused = c.open(mode, "/private", { auth: { token: "nope" }, extra: { parser: msgpackParser } });
      const err = await waitFor(refused, "connect_error");
      assert.equal(err.message, "unauthorized");
    });

    test("R9 the server asks, the client acks with binary", async () => {
      const { socket } = await mp();
      socket.on("question", (payload, ack) => ack(payload, { reply: bytes(9, 7) }));
      const answer = waitForArgs(socket, "answer");
      socket.emit("ask", "send binary");
      assert.deepEqual(await answer, ["send binary", { reply: bytes(9, 7) }]);
    });

    test("a msgpack and a default-parser client in one room, both ways, with binary", async () => {
      const room = `mixed-${mode}`;
      const [{ socket: m }, { socket: d }, { socket: out }] = await Promise.all([
        mp(),
        c.connect(mode),
        c.connect(mode, "/", { extra: { parser: msgpackParser } }),
      ]);
      const got = { m: collect(m, "room-message"), d: collect(d, "room-message"), out: collect(out, "room-message") };
      assert.deepEqual(await emitAck(m, "join", [{ room }]), [room]);
      assert.deepEqual(await emitAck(d, "join", [{ room }]), [room]);

      const fromM = { from: "msgpack", bin: bytes(10, 8), nested: [{ b: bytes(2, 9) }], n: 1.25 };
      m.emit("to-room", { room, payload: fromM });
      await until(got.m, 1, "msgpack client gets its room-message");
      await until(got.d, 1, "default client gets the msgpack client's room-message");
      assert.deepEqual(got.m[0], [fromM]);
      assert.deepEqual(got.d[0], [fromM]);
      assert.ok(Buffer.isBuffer(got.d[0][0].bin), "binary stays binary for the default parser");

      const fromD = { from: "default", bin: bytes(20, 10), n: -7 };
      d.emit("to-room-others", { room, payload: fromD });
      await until(got.m, 2, "msgpack client gets the default client's room-message");
      assert.deepEqual(got.m[1], [fromD]);
      assert.ok(Buffer.isBuffer(got.m[1][0].bin), "binary stays binary for msgpack");

      await sleep(QUIET_MS);
      assert.equal(got.d.length, 1, "to-room-others skips the sender");
      assert.deepEqual(got.out, [], "the client outside the room gets nothing");
    });
  });
}
