// 50 concurrent clients, each doing an ack-echo and joining a room.
import { describe, test, before, after, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, WAIT_MS, emitAck, collect, sleep, withTimeout } from "../lib/client.mjs";

const N = 50;

let server;
before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

for (const mode of MODES) {
  describe(`load [${mode}]`, () => {
    let c;
    beforeEach(() => {
      c = new Clients(server.url);
    });
    afterEach(() => c.closeAll());

    test(`${N} concurrent clients: connect, ack-echo, join a room, room fan-out`, async () => {
      const room = `crowd-${mode}`;
      const results = await withTimeout(
        Promise.all(
          Array.from({ length: N }, async (_, i) => {
            const nsp = i % 5 === 0 ? "/custom" : "/";
            const { socket, welcome } = await c.connect(mode, nsp, { auth: { i }, ms: 3 * WAIT_MS });
            assert.deepEqual(welcome, { id: socket.id, nsp, auth: { i } });
            assert.deepEqual(await emitAck(socket, "ack-echo", [i, { client: i }], 3 * WAIT_MS), [i, { client: i }]);
            assert.deepEqual(await emitAck(socket, "join", [{ room }], 3 * WAIT_MS), [room]);
            return { socket, nsp };
          }),
        ),
        4 * WAIT_MS,
        `${N} clients`,
      );
      assert.equal(new Set(results.map((r) => r.socket.id)).size, N, "distinct socket ids");

      // One to-room from a "/" client reaches every "/" member of the room, and no "/custom" one.
      const got = results.map((r) => collect(r.socket, "room-message"));
      const rootCount = results.filter((r) => r.nsp === "/").length;
      const sender = results.find((r) => r.nsp === "/").socket;
      sender.emit("to-room", { room, payload: "all of you" });
      const deadline = Date.now() + 2 * WAIT_MS;
      for (let i = 0; i < 10000; i++) {
        const have = results.filter((r, k) => r.nsp === "/" && got[k].length > 0).length;
        if (have === rootCount || Date.now() > deadline) break;
        await sleep(10);
      }
      await sleep(100);
      results.forEach((r, k) => {
        if (r.nsp === "/") assert.deepEqual(got[k], [["all of you"]], `client ${k}`);
        else assert.deepEqual(got[k], [], `client ${k} on /custom`);
      });
    });
  });
}
