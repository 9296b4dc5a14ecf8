// Starts the server under test as a child process.
//
// SERVER_BIN unset: the reference server (node reference-server.mjs).
// SERVER_BIN set:   that executable (e.g. the Go conformance fixture), run as
//                   SERVER_BIN -addr 127.0.0.1:0 -ping-interval <ms>ms -ping-timeout <ms>ms [SERVER_ARGS...]
// Both must print `listening on 127.0.0.1:<port>` once they accept connections.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const referenceServer = path.join(here, "..", "reference-server.mjs");

const START_TIMEOUT_MS = Number(process.env.SERVER_START_TIMEOUT_MS || 20000);
const STOP_TIMEOUT_MS = 3000;

const children = new Set();

function killGroup(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole process group (detached)
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

// Never leave a server behind, whatever way this process ends.
process.on("exit", () => {
  for (const child of children) killGroup(child, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(sig, () => {
    for (const child of children) killGroup(child, "SIGKILL");
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
  });
}

/**
 * @param {{pingInterval?: number, pingTimeout?: number, args?: string[]}} [opts] milliseconds;
 *   args are extra flags for the server (e.g. ["-recovery", "2m"])
 * @returns {Promise<{url: string, port: number, stop: () => Promise<void>}>}
 */
export function startServer(opts = {}) {
  const pingInterval = opts.pingInterval ?? 2000;
  const pingTimeout = opts.pingTimeout ?? 2000;
  const flags = [
    "-addr", "127.0.0.1:0", "-ping-interval", `${pingInterval}ms`, "-ping-timeout", `${pingTimeout}ms`,
    ...(opts.args ?? []),
  ];

  let cmd;
  let args;
  if (process.env.SERVER_BIN) {
    cmd = process.env.SERVER_BIN;
    const extra = (process.env.SERVER_ARGS || "").split(/\s+/).filter(Boolean);
    args = [...flags, ...extra];
  } else {
    cmd = process.execPath;
    args = [referenceServer, ...flags];
  }

  const child = spawn(cmd, args, {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true, // own process group, so stop() also reaches grandchildren
    env: { ...process.env, INTEROP_EXIT_ON_STDIN_CLOSE: "1" },
  });
  children.add(child);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  exited.then(() => children.delete(child));

  const debug = !!process.env.INTEROP_DEBUG;
  let stderrTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderrTail = (stderrTail + chunk).slice(-4000);
    if (debug) process.stderr.write(chunk);
  });
  child.stdin.on("error", () => {});

  async function stop() {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const timeout = (ms) => new Promise((resolve) => setTimeout(resolve, ms, "timeout").unref());
    killGroup(child, "SIGTERM");
    if ((await Promise.race([exited, timeout(STOP_TIMEOUT_MS)])) === "timeout") {
      killGroup(child, "SIGKILL");
      await Promise.race([exited, timeout(STOP_TIMEOUT_MS)]);
    }
    child.stdin.destroy();
    child.stdout.destroy();
    child.stderr.destroy();
  }

  return new Promise((resolve, reject) => {
    let stdout = "";
    let settled = false;
    const finish = (err, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        stop().finally(() => reject(err));
      } else {
        resolve(value);
      }
    };
    const describe = () => `${cmd} ${args.join(" ")}` + (stderrTail ? `\nstderr:\n${stderrTail}` : "");
    const timer = setTimeout(
      () => finish(new Error(`server did not print "listening on" within ${START_TIMEOUT_MS} ms: ${describe()}`)),
      START_TIMEOUT_MS,
    );
    child.once("error", (err) => finish(new Error(`cannot start server: ${err.message}: ${describe()}`)));
    child.once("exit", (code, signal) =>
      finish(new Error(`server exited early (code ${code}, signal ${signal}): ${describe()}`)),
    );
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      if (debug) process.stderr.write(chunk);
      if (settled) return;
      stdout += chunk;
      const m = /^listening on (127\.0\.0\.1):(\d+)\s*$/m.exec(stdout);
      if (m) {
        const port = Number(m[2]);
        finish(null, { url: `http://127.0.0.1:${port}`, port, stop });
      }
    });
  });
}
