// A Node socket.io 4.8.3 server with @socket.io/redis-adapter 8.3.0 and the
// Go server in one cluster, classic (createAdapter) and sharded
// (createShardedAdapter): broadcasts, fetchSockets, socketsJoin, acks,
// server-side emits and server counts work both ways.
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  skipReason, startRedis, startGoServer, startNodeServer, connect, call, collect, eventually, deliver, sleep,
} from "../lib/harness.mjs";

const skip = skipReason() ?? false;

for (const mode of ["classic", "sharded"]) {
  const sharded = mode === "sharded";

  describe(`Node redis-adapter ↔ Go server [${mode}]`, { skip }, () => {
    let redis, go, node;
    let cg, cn; // clients of the Go and of the Node server
    const clients = [];

    before(async () => {
      redis = await startRedis();
      [go, node] = await Promise.all([
        startGoServer(redis.url, sharded ? ["-sharded"] : []),
        startNodeServer(redis.url, { sharded }),
      ]);
      [cg, cn] = await Promise.all([connect(go.url), connect(node.url)]);
      clients.push(cg, cn);
      assert.equal(await call(cg, "join", "room1"), "ok");
      assert.equal(await call(cn, "join", "room1"), "ok");
      assert.equal(await call(cg, "set-data", { side: "go" }), "ok");
      assert.equal(await call(cn, "set-data", { side: "node" }), "ok");
    });
    after(async () => {
      for (const c of clients) c.close();
      await node?.close();
      await go?.stop();
      await redis?.stop();
    });

    test("server count is 2 on both sides", async () => {
      await eventually("go server count", async () => (await call(cg, "server-count")) === 2);
      assert.equal(await node.io.of("/").adapter.serverCount(), 2);
    });

    test("Node broadcast to a room reaches a client of the Go server", async () => {
      const got = collect(cg, "from-node");
      await deliver("room broadcast", got, () => node.io.to("room1").emit("from-node", "x", { n: 1 }, Buffer.from([9, 8])));
      assert.equal(got[0][0], "x");
      assert.deepEqual(got[0][1], { n: 1 });
      assert.ok(Buffer.isBuffer(got[0][2]));
      assert.deepEqual([...got[0][2]], [9, 8]);
      const all = collect(cg, "from-node-all");
      await deliver("namespace broadcast", all, () => node.io.emit("from-node-all", 1));
      // A socket-id room (private channel in the sharded dynamic mode).
      const direct = collect(cg, "direct");
      await deliver("broadcast to a socket id", direct, () => node.io.to(cg.id).emit("direct", "only you"));
      assert.deepEqual(direct[0], ["only you"]);
    });

    test("Go broadcast to a room reaches a client of the Node server", async () => {
      const got = collect(cn, "from-go");
      await deliver("room broadcast", got, () => call(cg, "to-room", "room1", "from-go", "y", { n: 2 }));
      assert.deepEqual(got[0], ["y", { n: 2 }]);
      const all = collect(cn, "from-go-all");
      await deliver("namespace broadcast", all, () => call(cg, "emit-all", "from-go-all", true));
      assert.deepEqual(all[0], [true]);
      const direct = collect(cn, "go-direct");
      await deliver("broadcast to a socket id", direct, () => call(cg, "to-room", cn.id, "go-direct", 3));
    });

    test("fetchSockets from Node sees Go sockets", async () => {
      const sockets = await node.io.in("room1").fetchSockets();
      const goSock = sockets.find((s) => s.id === cg.id);
      assert.ok(goSock, `Go socket ${cg.id} missing from ${sockets.map((s) => s.id)}`);
      assert.ok(goSock.rooms.has("room1"));
      assert.ok(goSock.rooms.has(cg.id));
      assert.deepEqual(goSock.data, { side: "go" });
      assert.equal(goSock.handshake.query.EIO, "4");
      assert.ok(sockets.some((s) => s.id === cn.id));
    });

    test("fetchSockets from Go sees Node sockets", async () => {
      const sockets = await call(cg, "fetch", "room1");
      assert.ok(Array.isArray(sockets), JSON.stringify(sockets));
      const nodeSock = sockets.find((s) => s.id === cn.id);
      assert.ok(nodeSock, `Node socket ${cn.id} missing from ${JSON.stringify(sockets)}`);
      assert.ok(nodeSock.rooms.includes("room1"));
      assert.deepEqual(nodeSock.data, { side: "node" });
      assert.equal(nodeSock.handshake.query.EIO, "4");
      assert.ok(sockets.some((s) => s.id === cg.id));
    });

    test("allRooms both ways", async () => {
      const fromGo = await call(cg, "all-rooms");
      assert.ok(fromGo.includes(cn.id) && fromGo.includes(cg.id) && fromGo.includes("room1"), JSON.stringify(fromGo));
      if (!sharded) {
        // The sharded Node adapter only knows its local rooms.
        const fromNode = await node.io.of("/").adapter.allRooms();
        assert.ok(fromNode.has(cg.id), [...fromNode].join(","));
      }
    });

    test("socketsJoin from Node applies to Go sockets and from Go to Node sockets", async () => {
      node.io.in("room1").socketsJoin("vip-node");
      await eventually("Go socket joined vip-node", async () => (await call(cg, "rooms")).includes("vip-node"));
      assert.equal(await call(cg, "sockets-join", "room1", "vip-go"), "ok");
      await eventually("Node socket joined vip-go", async () => (await call(cn, "rooms")).includes("vip-go"));
      await eventually("Go socket joined vip-go", async () => (await call(cg, "rooms")).includes("vip-go"));
    });

    test("broadcast with acks from Node collects Go clients' answers", async () => {
      cg.on("ask-node", (v, cb) => cb(`go:${v}`));
      cn.on("ask-node", (v, cb) => cb(`node:${v}`));
      const answers = await node.io.to("room1").timeout(3000).emitWithAck("ask-node", 1);
      assert.deepEqual([...answers].sort(), ["go:1", "node:1"]);
    });

    test("broadcast with acks from Go collects Node clients' answers", async () => {
      cg.on("ask-go", (v, cb) => cb(`go:${v}`));
      cn.on("ask-go", (v, cb) => cb(`node:${v}`));
      const answers = await call(cg, "emit-with-ack", "room1", "ask-go", 2);
      assert.ok(Array.isArray(answers), JSON.stringify(answers));
      assert.deepEqual([...answers].sort(), ["go:2", "node:2"]);
    });

    test("server-side emits both ways, with acknowledgements", async () => {
      node.io.serverSideEmit("hello", "from-node");
      await eventually("Go received", async () =>
        (await call(cg, "server-side-received")).some((a) => a[0] === "hello" && a[1] === "from-node"));
      const goAnswers = await node.io.serverSideEmitWithAck("hello", "ack-please");
      assert.deepEqual(goAnswers, ["go-pong"]);

      assert.equal(await call(cg, "server-side-emit", "hello", "from-go"), "ok");
      await eventually("Node received", () => node.serverSideReceived.some((a) => a[0] === "from-go"));
      const nodeAnswers = await call(cg, "server-side-emit-with-ack", "hello", "ack-please");
      assert.deepEqual(nodeAnswers, ["node-pong"]);
    });

    test("namespaces stay apart", async () => {
      const admin = await connect(go.url, "/admin");
      clients.push(admin);
      const adminGot = collect(admin, "adm");
      const rootGot = collect(cg, "adm");
      await deliver("/admin broadcast", adminGot, () => node.io.of("/admin").emit("adm", 1));
      await sleep(200);
      assert.equal(rootGot.length, 0);
    });

    test("disconnectSockets from Node disconnects a Go client", async () => {
      const victim = await connect(go.url);
      clients.push(victim);
      const gone = new Promise((r) => victim.once("disconnect", r));
      await eventually("Node sees the new Go socket", async () =>
        (await node.io.fetchSockets()).some((s) => s.id === victim.id));
      node.io.in(victim.id).disconnectSockets();
      const reason = await Promise.race([gone, sleep(5000).then(() => "timeout")]);
      assert.equal(reason, "io server disconnect");
    });
  });
}
