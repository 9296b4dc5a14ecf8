// Binary attachments at any depth via R2 (echo) and R3 (ack-echo), and in R9 answers.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, waitForArgs, emitAck, withTimeout } from "../lib/client.mjs";

function bytes(n, seed) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

// Deep equality that also insists every binary value came back as a Buffer.
function assertSame(actual, expected, where = "$") {
  if (Buffer.isBuffer(expected)) {
    assert.ok(Buffer.isBuffer(actual), `${where}: expected a Buffer, got ${Object.prototype.toString.call(actual)}`);
    assert.ok(actual.equals(expected), `${where}: bytes differ (${actual.length} vs ${expected.length} bytes)`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array`);
    assert.equal(actual.length, expected.length, `${where}: length`);
    expected.forEach((v, i) => assertSame(actual[i], v, `${where}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === "object") {
    assert.ok(actual !== null && typeof actual === "object" && !Array.isArray(actual), `${where}: expected an object`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: keys`);
    for (const k of Object.keys(expected)) assertSame(actual[k], expected[k], `${where}.${k}`);
    return;
  }
  assert.equal(actual, expected, where);
}

// Five attachments at several depths, mixed with plain JSON.
const NESTED = {
  top: bytes(16, 1),
  meta: { name: "file.bin", size: 3, flags: [true, false, null] },
  deep: { a: { b: { c: bytes(300, 2), label: "c" } } },
  list: [1, "two", bytes(1, 3), [null, [bytes(1024, 4)]], { inner: bytes(3, 5) }],
};

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`binary [${mode}]`, () => {
    let c;
    let socket;
    beforeEach(async () => {
      c = new Clients(server.url);
      ({ socket } = await c.connect(mode));
    });
    afterEach(() => c.closeAll());

    async function echo(...args) {
      const back = waitForArgs(socket, "echo-back");
      socket.emit("echo", ...args);
      return back;
    }

    test("R2 a single top-level Buffer", async () => {
      const b = Buffer.from([0, 1, 2, 3, 0xfe, 0xff]);
      assertSame(await echo(b), [b]);
    });

    test("R2/R3 an empty Buffer", async () => {
      const empty = Buffer.alloc(0);
      assertSame(await echo(empty, { e: empty }), [empty, { e: empty }]);
      assertSame(await emitAck(socket, "ack-echo", [empty]), [empty]);
    });

    test("R2 five Buffers nested in objects and arrays", async () => {
      assertSame(await echo(NESTED), [NESTED]);
    });

    test("R2 several args mixing binary and JSON", async () => {
      const args = ["text", bytes(10, 6), 7, { b: bytes(20, 7) }, [bytes(30, 8)], null];
      assertSame(await echo(...args), args);
    });

    test("R2/R3 exactly 10 attachments (the parser's maximum)", async () => {
      const ten = Array.from({ length: 10 }, (_, i) => ({ i, data: bytes(5 + i, i) }));
      assertSame(await echo(ten), [ten]);
      assertSame(await emitAck(socket, "ack-echo", [ten]), [ten]);
    });

    test("R3 five Buffers nested, via ack", async () => {
      assertSame(await emitAck(socket, "ack-echo", [NESTED]), [NESTED]);
    });

    test("R3 several args mixing binary and JSON, via ack", async () => {
      const args = [bytes(4, 9), "x", { y: [bytes(8, 10), { z: bytes(2, 11) }] }];
      assertSame(await emitAck(socket, "ack-echo", args), args);
    });

    test("R2/R3 a 300 KB Buffer", async () => {
      const big = bytes(300_000, 12);
      assertSame(await echo({ big }), [{ big }]);
      assertSame(await emitAck(socket, "ack-echo", [big], 3 * WAIT_MS), [big]);
    });

    test("binary after text keeps the order (R2)", async () => {
      const got = [];
      const done = new Promise((resolve) => {
        socket.on("echo-back", (...args) => {
          got.push(args);
          if (got.length === 4) resolve();
        });
      });
      socket.emit("echo", "one");
      socket.emit("echo", bytes(5, 13));
      socket.emit("echo", { two: 2 });
      socket.emit("echo", [bytes(6, 14), bytes(7, 15)]);
      await withTimeout(done, WAIT_MS, `4 echo-back (got ${got.length})`);
      assertSame(got, [["one"], [bytes(5, 13)], [{ two: 2 }], [[bytes(6, 14), bytes(7, 15)]]]);
    });

    test("R9 the client acks a question with binary; answer keeps it", async () => {
      socket.on("question", (payload, ack) => ack(payload, { reply: bytes(9, 16) }));
      const answer = waitForArgs(socket, "answer");
      socket.emit("ask", "send binary");
      assertSame(await answer, ["send binary", { reply: bytes(9, 16) }]);
    });
  });
}
