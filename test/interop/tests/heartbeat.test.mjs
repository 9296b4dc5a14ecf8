// Heartbeat with short -ping-interval/-ping-timeout flags: the official client
// answers the server's pings and stays connected well past several intervals.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.mjs";
import { Clients, MODES, emitAck, sleep } from "../lib/client.mjs";

// Short interval, roomy timeout: many pings, but a busy CI machine does not flake.
const PING_INTERVAL = 400;
const PING_TIMEOUT = 1500;

let server;
before(async () => {
  server = await startServer({ pingInterval: PING_INTERVAL, pingTimeout: PING_TIMEOUT });
});
after(async () => {
  await server?.stop();
});

describe("heartbeat (pingInterval 400 ms, pingTimeout 1500 ms; all modes at once)", () => {
  let c;
  before(() => {
    c = new Clients(server.url);
  });
  after(() => c.closeAll());

  test("clients stay connected across many pings", async () => {
    await Promise.all(
      MODES.map(async (mode) => {
        const { socket } = await c.connect(mode);
        let pings = 0;
        let disconnects = 0;
        socket.io.on("ping", () => pings++);
        socket.on("disconnect", () => disconnects++);
        await sleep(3000);
        assert.equal(disconnects, 0, `${mode}: no disconnect`);
        assert.ok(pings >= 3, `${mode}: got ${pings} pings in 3000 ms`);
        assert.deepEqual(await emitAck(socket, "ack-echo", [mode]), [mode]);
      }),
    );
  });
});
