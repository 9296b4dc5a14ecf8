// Client-side helpers shared by the test files.
import { io, Manager } from "socket.io-client";

/** The transport modes every scenario runs under. Filter with MODES=websocket,polling. */
export const ALL_MODES = ["websocket", "polling", "upgrade"];
export const MODES = process.env.MODES
  ? process.env.MODES.split(",").map((m) => m.trim()).filter((m) => ALL_MODES.includes(m))
  : ALL_MODES;

/** Default per-wait timeout (ms); generous so a loaded machine does not flake. */
export const WAIT_MS = Number(process.env.INTEROP_WAIT_MS || 10000);

/** How long a "nothing arrives" check waits (ms). */
export const QUIET_MS = 300;

/** Client options for a transport mode. */
export function modeOptions(mode, extra = {}) {
  const base = {
    forceNew: true,
    reconnection: false,
    timeout: WAIT_MS, // connection timeout
    ...extra,
  };
  if (mode === "websocket") base.transports = ["websocket"];
  else if (mode === "polling") base.transports = ["polling"];
  else if (mode === "upgrade") {
    base.transports = ["polling", "websocket"];
    base.upgrade = true;
    base.rememberUpgrade = false;
  } else throw new Error(`unknown mode ${mode}`);
  return base;
}

/**
 * Resolves with the first argument of the next `event`, rejects after `ms`.
 */
export function waitFor(emitter, event, ms = WAIT_MS) {
  return waitForArgs(emitter, event, ms).then((args) => args[0]);
}

/** Resolves with all arguments of the next `event`, rejects after `ms`. */
export function waitForArgs(emitter, event, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      reject(new Error(`timeout: no "${event}" within ${ms} ms`));
    }, ms);
    emitter.once(event, onEvent);
  });
}

/** Resolves after `ms` if `event` did not fire; rejects if it did. */
export function expectNone(emitter, event, ms = QUIET_MS) {
  return new Promise((resolve, reject) => {
    const onEvent = (...args) => {
      clearTimeout(timer);
      reject(new Error(`unexpected "${event}": ${JSON.stringify(args).slice(0, 200)}`));
    };
    const timer = setTimeout(() => {
      emitter.off(event, onEvent);
      resolve();
    }, ms);
    emitter.on(event, onEvent);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Bounded race: rejects with `what` after `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

/** Records every `event` (args arrays) on a socket. */
export function collect(emitter, event) {
  const got = [];
  emitter.on(event, (...args) => got.push(args));
  return got;
}

/** Emits with an ack and a timeout; resolves with the ack's args array. */
export function emitAck(socket, event, args, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    socket.timeout(ms).emit(event, ...args, (err, ...res) => {
      if (err) reject(new Error(`no ack for "${event}" within ${ms} ms`));
      else resolve(res);
    });
  });
}

/** Waits until the engine of `manager` runs over websocket after an upgrade. */
export async function waitUpgraded(manager, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  // The engine may not exist yet, or may have upgraded already.
  for (let i = 0; i < 1000 && !manager.engine; i++) {
    if (Date.now() > deadline) break;
    await sleep(5);
  }
  const engine = manager.engine;
  if (!engine) throw new Error("no engine on manager");
  if (engine.transport && engine.transport.name === "websocket" && !engine.upgrading) return;
  await waitFor(engine, "upgrade", Math.max(1, deadline - Date.now()));
  if (engine.transport.name !== "websocket") throw new Error(`upgraded to ${engine.transport.name}`);
}

/**
 * Tracks clients so tests can always close them (call closeAll() in afterEach).
 */
export class Clients {
  constructor(url) {
    this.url = url;
    this.sockets = new Set();
    this.managers = new Set();
  }

  manager(mode, extra = {}) {
    const m = new Manager(this.url, modeOptions(mode, extra));
    this.managers.add(m);
    return m;
  }

  /**
   * Opens a socket on `nsp` (or on an existing manager when `opts.manager`
   * is given). Listeners for `welcome` are attached before any I/O.
   * Resolves once connected and welcomed (and upgraded in "upgrade" mode):
   * { socket, welcome }.
   */
  async connect(mode, nsp = "/", opts = {}) {
    const { manager, auth, extra, ms = WAIT_MS } = opts;
    const socket = this.open(mode, nsp, { manager, auth, extra: { timeout: ms, ...(extra || {}) } });
    const welcome = waitFor(socket, "welcome", ms);
    const connected = new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) => reject(new Error(`connect_error on ${nsp}: ${err.message}`)));
    });
    welcome.catch(() => {});
    await withTimeout(connected, ms, `connect to ${nsp} (${mode})`);
    const w = await welcome;
    if (mode === "upgrade") await waitUpgraded(socket.io, ms);
    return { socket, welcome: w };
  }

  /** Creates a socket without waiting for anything. */
  open(mode, nsp = "/", { manager, auth, extra } = {}) {
    let socket;
    if (manager) {
      socket = manager.socket(nsp, auth === undefined ? {} : { auth });
    } else {
      const options = modeOptions(mode, { ...(extra || {}) });
      if (auth !== undefined) options.auth = auth;
      socket = io(this.url + (nsp === "/" ? "" : nsp), options);
      this.managers.add(socket.io);
    }
    this.sockets.add(socket);
    return socket;
  }

  closeAll() {
    for (const s of this.sockets) {
      try {
        s.disconnect();
      } catch {
        // ignore
      }
    }
    for (const m of this.managers) {
      try {
        m.reconnection(false);
        if (m.engine) m.engine.close();
      } catch {
        // ignore
      }
    }
    this.sockets.clear();
    this.managers.clear();
  }
}
