// The conformance app (examples/conformance/README.md) on the official
// Node socket.io server. It is the oracle: every test must pass against it.
//
//   node reference-server.mjs [--addr 127.0.0.1:0] [--ping-interval 2000] [--ping-timeout 2000]
//
// Flags also accept the Go style used by the Go fixture: `-addr 127.0.0.1:0`,
// `-ping-interval 2000ms`, `-ping-timeout 2s`, and `--flag=value`.
// Once listening it prints exactly one line: `listening on <host>:<port>`.
import http from "node:http";
import { Server } from "socket.io";

const USAGE =
  "usage: node reference-server.mjs [--addr host:port] [--ping-interval ms] " +
  "[--ping-timeout ms] [--connect-timeout ms] [--allow-eio3] [--websocket-compression] [--recovery duration]";

function fail(msg) {
  process.stderr.write(`reference-server: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

// parseDuration takes a Go-style duration ("2000ms", "2s", "1m30s", "1.5s") or
// a bare number of milliseconds ("2000") and returns milliseconds.
function parseDuration(name, text) {
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const units = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (!m) fail(`invalid duration for ${name}: ${JSON.stringify(text)}`);
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (text.length === 0) fail(`invalid duration for ${name}: empty`);
  return Math.round(total);
}

function parseArgs(argv) {
  const opts = { addr: "127.0.0.1:0", pingInterval: 2000, pingTimeout: 2000, connectTimeout: 45000, allowEIO3: false, recovery: 0 };
  const booleans = {
    "allow-eio3": () => (opts.allowEIO3 = true),
    "websocket-compression": () => (opts.perMessageDeflate = { threshold: 1024 }),
  };
  const names = {
    addr: (v) => (opts.addr = v),
    "ping-interval": (v) => (opts.pingInterval = parseDuration("ping-interval", v)),
    "ping-timeout": (v) => (opts.pingTimeout = parseDuration("ping-timeout", v)),
    "connect-timeout": (v) => (opts.connectTimeout = parseDuration("connect-timeout", v)),
    recovery: (v) => (opts.recovery = parseDuration("recovery", v)),
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/.exec(arg);
    if (!m) fail(`unexpected argument ${JSON.stringify(arg)}`);
    if (m[1] === "h" || m[1] === "help") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    }
    if (booleans[m[1]] && m[2] === undefined) {
      booleans[m[1]]();
      continue;
    }
    const set = names[m[1]];
    if (!set) fail(`unknown flag ${JSON.stringify(arg)}`);
    let value = m[2];
    if (value === undefined) {
      if (i + 1 >= argv.length) fail(`flag ${arg} needs a value`);
      value = argv[++i];
    }
    set(value);
  }
  const am = /^(.*):(\d+)$/.exec(opts.addr);
  if (!am) fail(`invalid --addr ${JSON.stringify(opts.addr)} (want host:port)`);
  opts.host = am[1].replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  opts.port = Number(am[2]);
  return opts;
}

const opts = parseArgs(process.argv.slice(2));

const httpServer = http.createServer((req, res) => {
  res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
  res.end("not found\n");
});

const io = new Server(httpServer, {
  path: "/socket.io/",
  transports: ["polling", "websocket"],
  allowUpgrades: true,
  maxHttpBufferSize: 1e6,
  pingInterval: opts.pingInterval,
  pingTimeout: opts.pingTimeout,
  connectTimeout: opts.connectTimeout,
  allowEIO3: opts.allowEIO3,
  perMessageDeflate: opts.perMessageDeflate ?? false,
  serveClient: true,
  // --recovery <duration>: connection state recovery with that window (off by default).
  ...(opts.recovery > 0
    ? { connectionStateRecovery: { maxDisconnectionDuration: opts.recovery, skipMiddlewares: true } }
    : {}),
});

// splitAck separates a trailing ack callback from the event arguments.
function splitAck(args) {
  if (args.length > 0 && typeof args[args.length - 1] === "function") {
    return [args.slice(0, -1), args[args.length - 1]];
  }
  return [args, undefined];
}

function roomOf(arg) {
  return arg !== null && typeof arg === "object" && typeof arg.room === "string" ? arg.room : undefined;
}

function rules(socket) {
  const nsp = socket.nsp;

  // R1
  socket.emit("welcome", { id: socket.id, nsp: nsp.name, auth: socket.handshake.auth ?? {} });

  // R2: echo back, never ack.
  socket.on("echo", (...raw) => {
    const [args] = splitAck(raw);
    socket.emit("echo-back", ...args);
  });

  // R3: ack with the same args; nothing without an ack.
  socket.on("ack-echo", (...raw) => {
    const [args, ack] = splitAck(raw);
    if (ack) ack(...args);
  });

  // R4
  socket.on("join", (...raw) => {
    const [args, ack] = splitAck(raw);
    const room = roomOf(args[0]);
    if (room === undefined) return;
    socket.join(room);
    if (ack) ack(room);
  });

  // R5
  socket.on("leave", (...raw) => {
    const [args, ack] = splitAck(raw);
    const room = roomOf(args[0]);
    if (room === undefined) return;
    socket.leave(room);
    if (ack) ack(room);
  });

  // R6: sender included when it is in the room.
  socket.on("to-room", (arg) => {
    const room = roomOf(arg);
    if (room === undefined) return;
    nsp.to(room).emit("room-message", arg.payload);
  });

  // R7: sender always excluded.
  socket.on("to-room-others", (arg) => {
    const room = roomOf(arg);
    if (room === undefined) return;
    socket.to(room).emit("room-message", arg.payload);
  });

  // R8: whole namespace, sender included.
  socket.on("broadcast", (payload) => {
    nsp.emit("broadcast-message", payload);
  });

  // R9
  socket.on("ask", (payload) => {
    socket.timeout(5000).emit("question", payload, (err, ...args) => {
      if (err) socket.emit("answer-timeout", payload);
      else socket.emit("answer", ...args);
    });
  });

  // R10: this namespace only, with a DISCONNECT packet.
  socket.on("server-disconnect", () => {
    socket.disconnect();
  });

  // R11: the whole Engine.IO connection, without a DISCONNECT packet.
  socket.on("drop", () => {
    socket.conn.close();
  });
}

io.of("/").on("connection", rules);
io.of("/custom").on("connection", rules);
const privateNsp = io.of("/private");
privateNsp.use((socket, next) => {
  if (socket.handshake.auth && socket.handshake.auth.token === "secret") next();
  else next(new Error("unauthorized"));
});
privateNsp.on("connection", rules);

let closing = false;
function shutdown(code) {
  if (closing) return;
  closing = true;
  const timer = setTimeout(() => process.exit(code), 1000);
  timer.unref();
  io.close(() => process.exit(code));
}
process.on("SIGTERM", () => shutdown(0));
process.on("SIGINT", () => shutdown(0));

// When started by the test harness, die with it: the harness holds our stdin.
if (process.env.INTEROP_EXIT_ON_STDIN_CLOSE === "1") {
  process.stdin.on("end", () => shutdown(0));
  process.stdin.on("error", () => shutdown(0));
  process.stdin.resume();
}

httpServer.on("error", (err) => {
  process.stderr.write(`reference-server: ${err.message}\n`);
  process.exit(1);
});

httpServer.listen(opts.port, opts.host, () => {
  const { address, port } = httpServer.address();
  const host = address.includes(":") ? `[${address}]` : address;
  process.stdout.write(`listening on ${host}:${port}\n`);
});
