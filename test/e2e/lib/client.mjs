// Helpers around the official socket.io-client in Node.
import { io } from "socket.io-client";
import { within } from "./caddy.mjs";

export const WAIT = 10_000;

/**
 * Connects a client and resolves once it is connected. setup runs before
 * the connection starts, so listeners for events the server emits right
 * after connecting (greetings) cannot miss them.
 */
export async function connect(url, opts = {}, setup = () => {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: WAIT, autoConnect: false, ...opts });
  setup(socket);
  socket.connect();
  await within(WAIT, new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  }), `connect ${url}`);
  return socket;
}

/**
 * The arguments the application emitted. With connection state recovery on
 * (Caddy's default), the server appends an offset to every event sent
 * without an ack request, and the official client hands it to listeners as
 * an extra last argument (as with a Node server); tests compare what the
 * application sent, so it is taken off here. (Volatile events carry no
 * offset; these tests emit none.)
 */
export function appArgs(socket, args) {
  if (socket._pid && args.length > 0 && typeof args[args.length - 1] === "string") {
    return args.slice(0, -1);
  }
  return args;
}

/** Resolves with the arguments of the next `event` on socket. */
export function next(socket, event, what = event) {
  return within(WAIT, new Promise((resolve) => socket.once(event, (...args) => resolve(appArgs(socket, args)))), what);
}

/** Collects every `event` on socket into an array. */
export function record(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(appArgs(socket, args)));
  return got;
}

/**
 * Like `next`, but the event must be registered before the action that
 * triggers it: returns a function that starts waiting now.
 */
export function expect(socket, event, what) {
  const p = next(socket, event, what);
  return () => p;
}

/** Emits with an acknowledgement and resolves with its arguments. */
export function emitAck(socket, event, ...args) {
  return within(WAIT, socket.timeout(WAIT).emitWithAck(event, ...args), `ack of ${event}`);
}
