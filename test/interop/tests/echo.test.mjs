// R2 (echo → echo-back) and R3 (ack-echo → ack) with every JSON type,
// a ~700 KB payload both ways, and the order of 1,000 events.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, waitForArgs, emitAck, withTimeout } from "../lib/client.mjs";

const VALUES = {
  "ascii string": "hello",
  "empty string": "",
  "unicode string": "héllo wörld ñ 中文 日本語 한국어 Ελληνικά עברית",
  "emoji string": "😀🎉👍🏽🇫🇷 family: 👨‍👩‍👧‍👦",
  "record separator \\u001e": "a\u001eb\u001e",
  "control chars and escapes": "tab\tnl\ncr\r nul\u0000 quote\" backslash\\ slash/ <script>&amp;",
  "line separators": "\u2028\u2029",
  "zero": 0,
  "positive int": 42,
  "negative int": -17,
  "float": 3.141592653589793,
  "negative float": -0.5,
  "tiny float": 1e-7,
  "huge float": 1.7976931348623157e308,
  "max safe int": Number.MAX_SAFE_INTEGER,
  "min safe int": Number.MIN_SAFE_INTEGER,
  "true": true,
  "false": false,
  "null": null,
  "empty array": [],
  "empty object": {},
  "nested arrays": [1, [2, [3, [4, [5, []]]]], ["a", ["b"]]],
  "nested objects": { a: { b: { c: { d: { e: "deep" } } } }, "key with spaces": 1, "ключ": "значение", "": "empty key" },
  "mixed": { list: [1, "two", null, true, { three: 3.5 }, [false]], n: -1, s: "x", o: {} },
};

function bigString(n) {
  const unit = "The quick brown fox jumps over the lazy dog 0123456789. ";
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`echo [${mode}]`, () => {
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

    test("R2 echo: every JSON type, one at a time", async () => {
      for (const [name, value] of Object.entries(VALUES)) {
        assert.deepEqual(await echo(value), [value], name);
      }
    });

    test("R3 ack-echo: every JSON type, one at a time", async () => {
      for (const [name, value] of Object.entries(VALUES)) {
        assert.deepEqual(await emitAck(socket, "ack-echo", [value]), [value], name);
      }
    });

    test("R2/R3: zero args", async () => {
      assert.deepEqual(await echo(), []);
      assert.deepEqual(await emitAck(socket, "ack-echo", []), []);
    });

    test("R2/R3: many args (all types at once)", async () => {
      const args = Object.values(VALUES);
      assert.deepEqual(await echo(...args), args);
      assert.deepEqual(await emitAck(socket, "ack-echo", args), args);
    });

    test("R2 echo with an ack request: echo-back, the ack is never called", async () => {
      let acked = false;
      const back = waitForArgs(socket, "echo-back");
      socket.emit("echo", "x", { y: 1 }, () => {
        acked = true;
      });
      assert.deepEqual(await back, ["x", { y: 1 }]);
      // A later round trip on the same connection proves nothing else came first.
      assert.deepEqual(await emitAck(socket, "ack-echo", ["after"]), ["after"]);
      assert.equal(acked, false);
    });

    test("R3 ack-echo without an ack: nothing comes back", async () => {
      let got = false;
      const onAny = () => {
        got = true;
      };
      socket.onAny(onAny);
      socket.emit("ack-echo", "no ack");
      assert.deepEqual(await emitAck(socket, "ack-echo", ["probe"]), ["probe"]);
      socket.offAny(onAny);
      assert.equal(got, false);
    });

    test("~700 KB string payload both ways (R2 and R3)", async () => {
      const big = bigString(700_000);
      const nested = { big, tail: ["end", 1] };
      assert.deepEqual(await echo(nested), [nested]);
      const res = await emitAck(socket, "ack-echo", [big], 3 * WAIT_MS);
      assert.equal(res.length, 1);
      assert.equal(res[0].length, big.length);
      assert.ok(res[0] === big, "700 KB string differs");
    });

    test("order of 1,000 echo events", async () => {
      const N = 1000;
      const got = [];
      const done = new Promise((resolve) => {
        socket.on("echo-back", (seq) => {
          got.push(seq);
          if (got.length === N) resolve();
        });
      });
      for (let i = 0; i < N; i++) socket.emit("echo", i);
      await withTimeout(done, 3 * WAIT_MS, `1000 echo-back (got ${got.length})`);
      assert.deepEqual(
        got,
        Array.from({ length: N }, (_, i) => i),
      );
    });
  });
}
