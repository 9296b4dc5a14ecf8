// @socket.io/redis-emitter 5.1.0 → Go server: what an external Node app
// publishes reaches official clients connected to the Go server.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";
import {
  skipReason, startRedis, startGoServer, connect, call, collect, eventually, sleep,
} from "../lib/harness.mjs";

const skip = skipReason() ?? false;

describe("redis-emitter → Go server", { skip }, () => {
  let redis, go, pub, emitter;
  const clients = [];
  before(async () => {
    redis = await startRedis();
    go = await startGoServer(redis.url);
    pub = createClient({ url: redis.url });
    pub.on("error", () => {});
    await pub.connect();
    emitter = new Emitter(pub);
  });
  after(async () => {
    for (const c of clients) c.close();
    await pub?.quit();
    await go?.stop();
    await redis?.stop();
  });

  async function client(nsp = "/") {
    const c = await connect(go.url, nsp);
    clients.push(c);
    return c;
  }

  test("emit to a room and to the namespace", async () => {
    const inRoom = await client();
    const outside = await client();
    assert.equal(await call(inRoom, "join", "room1"), "ok");
    const roomGot = collect(inRoom, "news");
    const outsideGot = collect(outside, "news");
    emitter.to("room1").emit("news", { id: 1 }, Buffer.from([1, 2, 3]));
    await eventually("room delivery", () => roomGot.length === 1);
    assert.deepEqual(roomGot[0][0], { id: 1 });
    assert.ok(Buffer.isBuffer(roomGot[0][1]), "binary argument arrives as binary");
    assert.deepEqual([...roomGot[0][1]], [1, 2, 3]);

    const allIn = collect(inRoom, "all");
    const allOut = collect(outside, "all");
    emitter.emit("all", 1, "two", [3]);
    await eventually("namespace delivery", () => allIn.length === 1 && allOut.length === 1);
    assert.deepEqual(allOut[0], [1, "two", [3]]);

    // except
    const exc = collect(outside, "exc");
    const excIn = collect(inRoom, "exc");
    emitter.except("room1").emit("exc");
    await eventually("except delivery", () => exc.length === 1);
    await sleep(100);
    assert.equal(excIn.length, 0);
    assert.equal(outsideGot.length, 0, "a socket outside the room got the room's event");
  });

  test("namespaces stay apart", async () => {
    const root = await client("/");
    const admin = await client("/admin");
    const rootGot = collect(root, "adm");
    const adminGot = collect(admin, "adm");
    emitter.of("/admin").emit("adm", "x");
    await eventually("/admin delivery", () => adminGot.length === 1);
    await sleep(100);
    assert.equal(rootGot.length, 0);
  });

  test("socketsJoin, serverSideEmit and disconnectSockets", async () => {
    const c = await client();
    assert.equal(await call(c, "join", "room2"), "ok");
    emitter.in("room2").socketsJoin("vip");
    await eventually("join applied", async () => (await call(c, "rooms")).includes("vip"));
    emitter.in("vip").socketsLeave("room2");
    await eventually("leave applied", async () => !(await call(c, "rooms")).includes("room2"));

    emitter.serverSideEmit("hello", { from: "emitter" });
    await eventually("server-side emit", async () =>
      (await call(c, "server-side-received")).some((a) => a[0] === "hello" && a[1]?.from === "emitter"));

    const disconnected = new Promise((r) => c.once("disconnect", r));
    emitter.in("vip").disconnectSockets();
    const reason = await Promise.race([disconnected, sleep(5000).then(() => "timeout")]);
    assert.equal(reason, "io server disconnect");
  });
});
