// Test harness: a redis-server of our own, the Go server (built from
// ./goserver with `go build`), Node socket.io servers with the official
// Redis adapter, and official clients. Every wait is bounded.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "redis";
import { Server } from "socket.io";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { io as ioc } from "socket.io-client";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..", "..");

export const WAIT_MS = 5000;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Children are killed whatever way this process ends.
const children = new Set();
process.on("exit", () => {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {}
  }
});

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function which(cmd) {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}

/** Path of redis-server, or "" (the tests then skip, loudly). */
export const redisServerBin = process.env.REDIS_SERVER || which("redis-server");

export function skipReason() {
  if (redisServerBin) return null;
  const msg = "*** SKIPPING Redis interop tests: redis-server not found. Install it (apt-get install redis-server). ***";
  console.error(`\n${msg}\n`);
  return msg;
}

function spawnTracked(cmd, args, opts) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

async function stopChild(child, ms = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(t);
}

/** Starts redis-server on a free port without persistence. */
export async function startRedis() {
  const port = await freePort();
  const child = spawnTracked(redisServerBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
  let out = "";
  child.stdout.on("data", (d) => (out = (out + d).slice(-4000)));
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10000;
  for (;;) {
    const c = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.ping();
      await c.quit();
      break;
    } catch (err) {
      try {
        await c.disconnect();
      } catch {}
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`redis-server did not start: ${err}\n${out}`);
      }
      await sleep(50);
    }
  }
  return { url, port, stop: () => stopChild(child) };
}

let goBuild;
/** Builds the Go server once per test process (GOSERVER_BIN overrides). */
export function goServerBin() {
  if (process.env.GOSERVER_BIN) return process.env.GOSERVER_BIN;
  if (!goBuild) {
    const dir = mkdtempSync(path.join(os.tmpdir(), "goserver-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const bin = path.join(dir, "goserver");
    let go = process.env.GO || which("go");
    if (!go && existsSync("/usr/local/go/bin/go")) go = "/usr/local/go/bin/go";
    if (!go) throw new Error("go not found: set GO or GOSERVER_BIN");
    execFileSync(go, ["build", "-o", bin, "./test/redis/goserver"], { cwd: repoRoot, stdio: "inherit", timeout: 300000 });
    goBuild = bin;
  }
  return goBuild;
}

/** Starts the Go server on redisUrl; resolves once it prints its address. */
export function startGoServer(redisUrl, extraArgs = []) {
  const child = spawnTracked(goServerBin(), ["-addr", "127.0.0.1:0", "-redis", redisUrl, ...extraArgs]);
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-8000);
    if (process.env.INTEROP_DEBUG) process.stderr.write(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`go server did not start in time\n${stderr}`));
    }, 30000);
    let buf = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (d) => {
      buf += d;
      const m = buf.match(/listening on (\S+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ url: `http://${m[1]}`, stop: () => stopChild(child), stderr: () => stderr });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`go server exited with ${code}\n${stderr}`));
    });
  });
}

/**
 * Starts a Node socket.io server on the same Redis with the official
 * adapter (classic createAdapter, or createShardedAdapter), with the same
 * rules as the Go server.
 */
export async function startNodeServer(redisUrl, { sharded = false } = {}) {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  pub.on("error", () => {});
  sub.on("error", () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const io = new Server(http, {
    adapter: sharded ? createShardedAdapter(pub, sub) : createAdapter(pub, sub, { requestsTimeout: 3000 }),
  });
  const serverSideReceived = [];
  for (const nsp of [io.of("/"), io.of("/admin")]) {
    nsp.on("connection", (socket) => {
      socket.on("join", (room, cb) => {
        socket.join(room);
        cb?.("ok");
      });
      socket.on("set-data", (v, cb) => {
        socket.data = v;
        cb?.("ok");
      });
      socket.on("rooms", (cb) => cb([...socket.rooms]));
    });
  }
  io.on("hello", (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    serverSideReceived.push(args);
    cb?.("node-pong");
  });
  await new Promise((r) => http.listen(0, "127.0.0.1", r));
  const { port } = http.address();
  return {
    io,
    url: `http://127.0.0.1:${port}`,
    serverSideReceived,
    async close() {
      io.close();
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

/** Connects an official client over websocket; resolves once connected. */
export function connect(url, nsp = "/") {
  const socket = ioc(url + nsp, { transports: ["websocket"], reconnection: false, forceNew: true });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`connect to ${url}${nsp} timed out`));
    }, WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** emitWithAck bounded by WAIT_MS. */
export function call(socket, event, ...args) {
  return socket.timeout(WAIT_MS).emitWithAck(event, ...args);
}

/** Records every `event` a socket receives. */
export function collect(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
  return got;
}

/** Waits until cond() holds; bounded. */
export async function eventually(what, cond, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    await sleep(20);
  }
}

/**
 * Calls send() until got has an entry, at most every 250 ms. A server
 * subscribes to a room's channel (sharded adapter) or registers a join a
 * moment after it happened, in Node as in Go; retrying keeps the tests from
 * depending on that moment.
 */
export async function deliver(what, got, send, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last = 0;
  while (got.length === 0) {
    if (Date.now() > deadline) throw new Error(`timeout: ${what}`);
    if (Date.now() - last >= 250) {
      last = Date.now();
      await send();
    }
    await sleep(10);
  }
}
