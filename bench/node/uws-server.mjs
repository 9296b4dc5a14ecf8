// The conformance rules the benchmarks use (R1 welcome, R3 ack-echo, R4 join,
// R5 leave, R6 to-room) on the official socket.io 4.8 server attached to
// uWebSockets.js instead of Node's http + ws. Same flags and output as
// test/interop/reference-server.mjs:
//
//   node uws-server.mjs [--addr 127.0.0.1:0] [--ping-interval 25000] [--ping-timeout 20000]
//
// uWebSockets.js is published on GitHub only, not on the npm registry, so it
// is not in package.json. Without it this prints one "skipped: ..." line and
// exits with status 3; bench/run.sh then skips this peer.
import { Server } from "socket.io";

let uWS;
try {
  const mod = await import("uWebSockets.js");
  uWS = mod.default ?? mod;
} catch {
  process.stdout.write("skipped: uWebSockets.js is not on the npm registry\n");
  process.exit(3);
}

function fail(msg) {
  process.stderr.write(`uws-server: ${msg}\n`);
  process.exit(2);
}

function ms(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) fail(`invalid duration ${JSON.stringify(text)}`);
  return Math.round(Number(m[1]) * (m[2] === "s" ? 1000 : 1));
}

const opts = { addr: "127.0.0.1:0", pingInterval: 25000, pingTimeout: 20000 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const m = /^--?([a-z-]+)(?:=(.*))?$/.exec(argv[i]);
  if (!m) fail(`unexpected argument ${JSON.stringify(argv[i])}`);
  const value = m[2] ?? argv[++i];
  if (value === undefined) fail(`flag ${argv[i - 1]} needs a value`);
  if (m[1] === "addr") opts.addr = value;
  else if (m[1] === "ping-interval") opts.pingInterval = ms(value);
  else if (m[1] === "ping-timeout") opts.pingTimeout = ms(value);
  else fail(`unknown flag ${JSON.stringify(argv[i])}`);
}
const am = /^(.*):(\d+)$/.exec(opts.addr);
if (!am) fail(`invalid --addr ${JSON.stringify(opts.addr)}`);

const app = uWS.App();
const io = new Server({
  path: "/socket.io/",
  transports: ["polling", "websocket"],
  maxHttpBufferSize: 1e6,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  allowEIO3: false,
  serveClient: false,
});
io.attachApp(app);

const roomOf = (a) => (a !== null && typeof a === "object" && typeof a.room === "string" ? a.room : undefined);
const splitAck = (raw) =>
  raw.length > 0 && typeof raw[raw.length - 1] === "function" ? [raw.slice(0, -1), raw[raw.length - 1]] : [raw, undefined];

io.of("/").on("connection", (socket) => {
  const nsp = socket.nsp;
  socket.emit("welcome", { id: socket.id, nsp: nsp.name, auth: socket.handshake.auth ?? {} });
  socket.on("ack-echo", (...raw) => {
    const [args, ack] = splitAck(raw);
    if (ack) ack(...args);
  });
  socket.on("join", (...raw) => {
    const [args, ack] = splitAck(raw);
    const room = roomOf(args[0]);
    if (room === undefined) return;
    socket.join(room);
    if (ack) ack(room);
  });
  socket.on("leave", (...raw) => {
    const [args, ack] = splitAck(raw);
    const room = roomOf(args[0]);
    if (room === undefined) return;
    socket.leave(room);
    if (ack) ack(room);
  });
  socket.on("to-room", (arg) => {
    const room = roomOf(arg);
    if (room === undefined) return;
    nsp.to(room).emit("room-message", arg.payload);
  });
});

process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));

app.listen(am[1], Number(am[2]), (token) => {
  if (!token) fail(`cannot listen on ${opts.addr}`);
  process.stdout.write(`listening on ${am[1]}:${uWS.us_socket_local_port(token)}\n`);
});
