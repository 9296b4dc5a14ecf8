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

/** Resolves with the arguments of the next `event` on socket. */
export function next(socket, event, what = event) {
  return within(WAIT, new Promise((resolve) => socket.once(event, (...args) => resolve(args))), what);
}

/** Collects every `event` on socket into an array. */
export function record(socket, event) {
  const got = [];
  socket.on(event, (...args) => got.push(args));
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
