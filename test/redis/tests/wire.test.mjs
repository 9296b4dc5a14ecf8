// Byte comparison: the Go server and the Node adapter publish the same
// bytes for the same operation (only the server uid differs).
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import {
  skipReason, startRedis, startGoServer, startNodeServer, connect, call, eventually, sleep,
} from "../lib/harness.mjs";

const skip = skipReason() ?? false;

for (const mode of ["classic", "sharded"]) {
  const sharded = mode === "sharded";

  describe(`wire bytes, Go vs Node [${mode}]`, { skip }, () => {
    let redis, go, node, raw, cg, cn;
    let seen = []; // [channel, Buffer]

    before(async () => {
      redis = await startRedis();
      [go, node] = await Promise.all([
        startGoServer(redis.url, sharded ? ["-sharded"] : []),
        startNodeServer(redis.url, { sharded }),
      ]);
      raw = createClient({ url: redis.url });
      raw.on("error", () => {});
      await raw.connect();
      const listener = (msg, channel) => seen.push([channel.toString(), Buffer.from(msg)]);
      if (sharded) {
        await raw.sSubscribe(["socket.io#/#", "socket.io#/#wire-room#"], listener, true);
      } else {
        await raw.pSubscribe("socket.io#/#*", listener, true);
        await raw.subscribe("socket.io-request#/#", listener, true);
      }
      [cg, cn] = await Promise.all([connect(go.url), connect(node.url)]);
      assert.equal(await call(cg, "join", "wire-room"), "ok");
      assert.equal(await call(cn, "join", "wire-room"), "ok");
      await sleep(100);
    });
    after(async () => {
      cg?.close();
      cn?.close();
      await raw?.quit();
      await node?.close();
      await go?.stop();
      await redis?.stop();
    });

    async function capture(send) {
      seen = [];
      await send();
      await eventually("a published message", () => seen.length > 0);
      await sleep(50);
      return seen.filter(([ch]) => !ch.includes("-response#"));
    }

    // Replaces the server uid so that the rest can be compared byte for byte.
    function withoutUid(buf) {
      if (buf[0] === 0x7b) {
        const s = buf.toString();
        const uid = JSON.parse(s).uid;
        return Buffer.from(uid === undefined ? s : s.split(JSON.stringify(uid)).join('"<uid>"'));
      }
      // classic broadcast: 93 a6 <6 uid bytes> ...
      assert.equal(buf[0], 0x93);
      assert.equal(buf[1], 0xa6);
      return Buffer.concat([Buffer.from([0x93, 0xa6]), Buffer.from("<uid>!"), buf.subarray(8)]);
    }

    // Go maps have no key order, so Go writes object keys sorted; the
    // payload object below has its keys in that order already.
    test("broadcast to one room", async () => {
      const fromNode = await capture(() => node.io.to("wire-room").emit("hello", "world", { f: 1.5, n: 1, neg: -300 }));
      const fromGo = await capture(() => call(cg, "to-room", "wire-room", "hello", "world", { f: 1.5, n: 1, neg: -300 }));
      assert.equal(fromNode.length, 1);
      assert.equal(fromGo.length, 1);
      assert.equal(fromGo[0][0], fromNode[0][0], "channel");
      assert.equal(fromNode[0][0], "socket.io#/#wire-room#");
      assert.deepEqual(withoutUid(fromGo[0][1]).toString("hex"), withoutUid(fromNode[0][1]).toString("hex"));
    });

    test("broadcast to the namespace", async () => {
      const fromNode = await capture(() => node.io.emit("all", 1, [true, null], "x"));
      const fromGo = await capture(() => call(cg, "emit-all", "all", 1, [true, null], "x"));
      assert.equal(fromGo[0][0], fromNode[0][0]);
      assert.equal(fromNode[0][0], "socket.io#/#");
      assert.deepEqual(withoutUid(fromGo[0][1]).toString("hex"), withoutUid(fromNode[0][1]).toString("hex"));
    });

    test("socketsJoin request", async () => {
      const fromNode = await capture(() => node.io.in("wire-room").socketsJoin("vip"));
      const fromGo = await capture(() => call(cg, "sockets-join", "wire-room", "vip"));
      const n = fromNode.find(([, b]) => b.toString().includes("vip"));
      const g = fromGo.find(([, b]) => b.toString().includes("vip"));
      assert.ok(n && g, "no join request seen");
      assert.equal(g[0], n[0]);
      assert.equal(withoutUid(g[1]).toString(), withoutUid(n[1]).toString());
    });
  });
}
