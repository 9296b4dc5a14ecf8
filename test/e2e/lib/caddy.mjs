// Runs a real Caddy binary (built from ./cmd/caddy) with Caddyfile.example,
// on free loopback ports chosen through the example's {$SOCKETIO_DEMO_*}
// placeholders. Every wait is bounded.
import { spawn, execFile } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, "../../..");
export const exampleCaddyfile = join(repoRoot, "Caddyfile.example");

const debug = process.env.E2E_DEBUG === "1";

/** Resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects if promise does not settle within ms. */
export function within(ms, promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls cond (sync or async) every 25 ms until true, for at most ms. */
export async function waitUntil(ms, cond, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(25);
  }
}

/** A free TCP port on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * A request to Caddy's admin endpoint. (Not fetch: the admin origin check
 * refuses requests that carry Sec-Fetch-Mode without an Origin, as Node's
 * fetch does.)
 */
export function admin(baseUrl, method, path, body, contentType = "application/json") {
  return within(30_000, new Promise((resolveReq, reject) => {
    const req = httpRequest(baseUrl + path, { method, headers: body ? { "Content-Type": contentType } : {} }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { data += d; });
      res.on("end", () => resolveReq({ status: res.statusCode, body: data }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  }), `${method} ${path}`);
}

let built;

/**
 * The caddy binary: $CADDY_BIN if set, else built once from ./cmd/caddy
 * into test/e2e/.bin (go build caches, so a rebuild is quick).
 */
export async function caddyBinary() {
  if (process.env.CADDY_BIN) return resolve(process.env.CADDY_BIN);
  if (!built) {
    built = (async () => {
      const out = join(here, "..", ".bin", "caddy");
      mkdirSync(dirname(out), { recursive: true });
      await run("go", ["build", "-o", out, "./cmd/caddy"], { cwd: repoRoot, timeout: 600_000 });
      return out;
    })();
  }
  return built;
}

/**
 * Starts `caddy run` with a Caddyfile (Caddyfile.example by default, or the
 * text given) and resolves once the site answers.
 */
export async function startCaddy({ caddyfileText } = {}) {
  const bin = await caddyBinary();
  const port = await freePort();
  const adminPort = await freePort();
  const home = mkdtempSync(join(tmpdir(), "caddy-e2e-"));
  let config = exampleCaddyfile;
  if (caddyfileText !== undefined) {
    config = join(home, "Caddyfile");
    writeFileSync(config, caddyfileText);
  }
  const env = {
    ...process.env,
    HOME: home,
    XDG_CONFIG_HOME: join(home, "config"),
    XDG_DATA_HOME: join(home, "data"),
    SOCKETIO_DEMO_PORT: String(port),
    SOCKETIO_DEMO_ADMIN: `127.0.0.1:${adminPort}`,
    SOCKETIO_DEMO_BIND: "127.0.0.1",
    SOCKETIO_DEMO_ROOT: join(repoRoot, "examples/chat"),
  };
  const proc = spawn(bin, ["run", "--config", config, "--adapter", "caddyfile"], {
    cwd: repoRoot,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs = [];
  const onData = (d) => {
    const s = d.toString();
    logs.push(s);
    if (debug) process.stderr.write(s);
  };
  proc.stdout.on("data", onData);
  proc.stderr.on("data", onData);
  const exited = new Promise((r) => proc.once("exit", (code, signal) => r({ code, signal })));

  const url = `http://127.0.0.1:${port}`;
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const caddy = {
    url,
    adminUrl,
    env,
    proc,
    exited,
    logs: () => logs.join(""),

    /** Adapts a Caddyfile text (with this instance's env) to JSON. */
    async adapt(text) {
      const file = join(home, `Caddyfile.${Date.now()}`);
      writeFileSync(file, text);
      const { stdout } = await run(bin, ["adapt", "--config", file, "--adapter", "caddyfile"], {
        cwd: repoRoot,
        env,
        timeout: 30_000,
      });
      return stdout;
    },

    /** Loads a new config through the admin API (POST /load, adapted JSON). */
    async reload(text) {
      const json = await caddy.adapt(text);
      const res = await admin(adminUrl, "POST", "/load", json);
      if (res.status !== 200) throw new Error(`POST /load: ${res.status} ${res.body}`);
    },

    /** GET /metrics on the admin endpoint. */
    async metrics() {
      const res = await admin(adminUrl, "GET", "/metrics");
      return res.body;
    },

    /** Stops Caddy through the admin API; resolves with the exit time in ms. */
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return 0;
      const t0 = Date.now();
      try {
        const res = await admin(adminUrl, "POST", "/stop");
        if (res.status !== 200) throw new Error(`POST /stop: ${res.status} ${res.body}`);
      } catch (err) {
        if (debug) process.stderr.write(`${err}; sending SIGTERM\n`);
        proc.kill("SIGTERM");
      }
      try {
        await within(20_000, exited, "caddy to exit");
      } catch (err) {
        proc.kill("SIGKILL");
        await within(5_000, exited, "caddy to die");
        throw err;
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
      return Date.now() - t0;
    },
  };

  try {
    await waitUntil(60_000, async () => {
      if (proc.exitCode !== null) throw new Error(`caddy exited early:\n${caddy.logs()}`);
      try {
        const res = await fetch(url + "/", { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        return res.ok;
      } catch {
        return false;
      }
    }, `caddy on ${url}`);
  } catch (err) {
    proc.kill("SIGKILL");
    throw err;
  }
  return caddy;
}

/** The text of Caddyfile.example, for tests that change it. */
export function exampleText() {
  return readFileSync(exampleCaddyfile, "utf8");
}

export { existsSync };
