// Acks both ways: client→server (R3), server→client (R9), client-side ack
// timeout, and the R9 server-side timeout (answer-timeout).
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, waitFor, waitForArgs, emitAck, withTimeout } from "../lib/client.mjs";

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`acks [${mode}]`, () => {
    let c;
    let socket;
    beforeEach(async () => {
      c = new Clients(server.url);
      ({ socket } = await c.connect(mode));
    });
    afterEach(() => c.closeAll());

    test("R3 client→server ack with several args", async () => {
      const args = ["a", 1, { b: [true, null] }, [], ""];
      assert.deepEqual(await emitAck(socket, "ack-echo", args), args);
    });

    test("R3 emitWithAck resolves with the first arg", async () => {
      assert.deepEqual(await socket.timeout(WAIT_MS).emitWithAck("ack-echo", { ok: 1 }), { ok: 1 });
    });

    test("R3 many acks in flight resolve to the right callers", async () => {
      const results = await Promise.all(
        Array.from({ length: 100 }, (_, i) => emitAck(socket, "ack-echo", [i, `n${i}`])),
      );
      results.forEach((res, i) => assert.deepEqual(res, [i, `n${i}`]));
    });

    test("R9 server→client ack: the client acks `question`, the server emits `answer` with the args", async () => {
      const question = new Promise((resolve) => {
        socket.once("question", (payload, ack) => {
          assert.equal(typeof ack, "function", "question must carry an ack request");
          ack("yes", 42, { x: [1, 2] }, null);
          resolve(payload);
        });
      });
      const answer = waitForArgs(socket, "answer");
      socket.emit("ask", { q: "ready?", n: 7 });
      assert.deepEqual(await withTimeout(question, WAIT_MS, "question"), { q: "ready?", n: 7 });
      assert.deepEqual(await answer, ["yes", 42, { x: [1, 2] }, null]);
    });

    test("R9 ack with zero args → answer with zero args", async () => {
      socket.once("question", (_payload, ack) => ack());
      const answer = waitForArgs(socket, "answer");
      socket.emit("ask", "anything");
      assert.deepEqual(await answer, []);
    });

    test("R9 several questions in flight are answered in ack order", async () => {
      const pending = [];
      socket.on("question", (payload, ack) => pending.push({ payload, ack }));
      const answers = [];
      const done = new Promise((resolve) => {
        socket.on("answer", (v) => {
          answers.push(v);
          if (answers.length === 3) resolve();
        });
      });
      socket.emit("ask", "q0");
      socket.emit("ask", "q1");
      socket.emit("ask", "q2");
      for (let i = 0; i < 200 && pending.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(pending.map((p) => p.payload), ["q0", "q1", "q2"]);
      // Answer in reverse order: each ack id must map back to its own question.
      pending[2].ack("a2");
      pending[0].ack("a0");
      pending[1].ack("a1");
      await withTimeout(done, WAIT_MS, "3 answers");
      assert.deepEqual(answers, ["a2", "a0", "a1"]);
    });

    test("client-side ack timeout: echo (R2) never acks → err after 200 ms", async () => {
      const started = Date.now();
      const back = waitFor(socket, "echo-back");
      const err = await new Promise((resolve) => {
        socket.timeout(200).emit("echo", "no-ack-expected", (err) => resolve(err));
      });
      assert.ok(err instanceof Error, "ack callback must get an error");
      assert.ok(Date.now() - started >= 150);
      assert.equal(await back, "no-ack-expected");
      await assert.rejects(socket.timeout(200).emitWithAck("unknown-event", 1));
    });
  });
}

describe("R9 server-side ack timeout (all modes at once)", () => {
  let c;
  before(() => {
    c = new Clients(server.url);
  });
  after(() => c.closeAll());

  test("a question that is never acked → answer-timeout with the payload (~5 s)", async () => {
    await Promise.all(
      MODES.map(async (mode) => {
        const { socket } = await c.connect(mode);
        let answered = false;
        socket.on("answer", () => {
          answered = true;
        });
        const question = waitForArgs(socket, "question");
        const timedOut = waitFor(socket, "answer-timeout", 5000 + WAIT_MS);
        const started = Date.now();
        socket.emit("ask", { mode, n: 1 });
        const [payload, ack] = await question;
        assert.deepEqual(payload, { mode, n: 1 });
        assert.equal(typeof ack, "function");
        assert.deepEqual(await timedOut, { mode, n: 1 });
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 4500 && elapsed <= 5000 + WAIT_MS, `answer-timeout after ${elapsed} ms (want ~5000)`);
        assert.equal(answered, false);
      }),
    );
  });
});
