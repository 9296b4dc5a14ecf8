// The official Socket.IO Admin UI (@socket.io/admin-ui), served by Caddy from
// its embedded copy (admin_ui { serve_ui }), in headless Chromium: a wrong
// password is refused, the login works, the sockets page lists the clients
// the official client connected (with their rooms), a disconnect clicked in
// the UI disconnects that client. The same against two Caddy nodes on
// Redis: both nodes are listed, and a click disconnects a client of the
// other node. Takes the README's screenshot (docs/admin-ui.png).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { startCaddy, caddyBinary, freePort, repoRoot, waitUntil, within } from "../lib/caddy.mjs";
import { connect, next, emitAck } from "../lib/client.mjs";

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = 15_000;
const PASSWORD = "correct horse";
const UI = "/socket.io-admin/";
// The screenshots go to docs/ (the README shows them) with
// UPDATE_SCREENSHOTS=1, else to test/e2e/.bin/ so a test run leaves the
// work tree clean.
const shots = process.env.UPDATE_SCREENSHOTS === "1" ? join(repoRoot, "docs") : join(repoRoot, "test/e2e/.bin");

function which(bin) {
  try {
    return execFileSync("sh", ["-c", `command -v ${bin}`], { encoding: "utf8" }).trim();
  } catch {
    return "";
  }
}
const redisBin = process.env.REDIS_SERVER || which("redis-server");

/** A bcrypt hash as `caddy hash-password` prints it (low cost: a test). */
async function hashPassword(plaintext) {
  const { stdout } = await run(await caddyBinary(), ["hash-password", "--plaintext", plaintext, "--bcrypt-cost", "6"], {
    timeout: 30_000,
  });
  const hash = stdout.trim();
  assert.match(hash, /^\$2a\$06\$/, "caddy hash-password output");
  return hash;
}

const siteConfig = (hash, { serverId, adapter = "" }) => `{
	admin {$SOCKETIO_DEMO_ADMIN}
}
http://:{$SOCKETIO_DEMO_PORT} {
	bind 127.0.0.1
	socketio {
		${adapter}
		namespace / {
			join joinRoom room
		}
		admin_ui {
			username      admin
			password_hash ${hash}
			server_id     ${serverId}
			serve_ui      ${UI}
		}
	}
	respond "socket.io node" 200
}
`;

let browser;
const cleanups = [];
before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 30_000,
  });
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn().catch(() => {});
  await browser?.close();
});

/** The official client, in room `room` of "/". */
async function client(url, room) {
  const s = await connect(url);
  cleanups.push(async () => s.disconnect());
  await emitAck(s, "joinRoom", { room });
  return s;
}

/** Opens the UI served by caddyUrl in a fresh page. */
async function openUI(caddyUrl) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  cleanups.push(() => context.close());
  // The page loads fonts and icons from the internet; the tests have none.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  const res = await page.goto(caddyUrl + UI);
  assert.equal(res.status(), 200);
  return { page, errors };
}

/** Fills the UI's connection form and submits it. */
async function login(page, serverUrl, password) {
  const form = page.locator("form").filter({ has: page.getByLabel("Server URL") });
  await form.getByLabel("Server URL").fill(serverUrl);
  await form.getByLabel("Username").fill("admin");
  await form.getByLabel("Password").fill(password);
  await form.getByRole("button", { name: "Connect" }).click();
}

/** The socket ids in the sockets table (namespace "/"). */
async function socketRows(page) {
  await page.goto(page.url().replace(/#.*$/, "#/sockets/"));
  return page.locator("table tbody tr");
}

async function waitForIds(page, ids) {
  await page.waitForFunction(
    (want) => {
      const text = [...document.querySelectorAll("table tbody tr")].map((tr) => tr.textContent).join("\n");
      return want.every((id) => text.includes(id));
    },
    ids,
    { timeout: WAIT },
  );
}

/** Clicks the disconnect button of the row of socket id. */
async function clickDisconnect(page, id) {
  const row = page.locator("table tbody tr", { hasText: id });
  await row.locator("button").click();
}

test("the Admin UI served by Caddy: login, sockets with rooms, disconnect", async () => {
  const hash = await hashPassword(PASSWORD);
  const caddy = await startCaddy({ caddyfileText: siteConfig(hash, { serverId: "e2e-node" }) });
  cleanups.push(() => caddy.stop());

  // The UI is the npm package's ui/dist, byte for byte.
  const pkgDist = join(repoRoot, "test/e2e/node_modules/@socket.io/admin-ui/ui/dist");
  for (const file of ["index.html", "js/app.0d7d7845.js"]) {
    if (!existsSync(join(pkgDist, file))) continue; // another version: checked by uidist's test
    const res = await fetch(caddy.url + UI + file);
    assert.equal(res.status, 200, file);
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(pkgDist, file))), `${file} differs from the npm package`);
  }

  const a1 = await client(caddy.url, "room-a");
  const a2 = await client(caddy.url, "room-a");
  const b1 = await client(caddy.url, "room-b");

  // The official client with a wrong password: connect_error.
  const bad = (await import("socket.io-client")).io(caddy.url + "/admin", {
    forceNew: true, reconnection: false, auth: { username: "admin", password: "wrong" },
  });
  const [err] = await next(bad, "connect_error");
  assert.equal(err.message, "invalid credentials");
  bad.close();

  const { page, errors } = await openUI(caddy.url);
  await login(page, caddy.url, "wrong");
  await page.getByText("Invalid credentials").waitFor();
  await login(page, caddy.url, PASSWORD);
  await page.getByLabel("Server URL").waitFor({ state: "hidden" });

  await socketRows(page);
  await waitForIds(page, [a1.id, a2.id, b1.id]);
  const listed = await page.$$eval("table tbody tr", (trs) => trs.map((tr) => tr.textContent.trim()));
  const ids = listed.map((t) => t.match(/^[A-Za-z0-9_-]{20}/)?.[0]).filter(Boolean);
  assert.deepEqual(ids.sort(), [a1.id, a2.id, b1.id].sort(), `the sockets of / listed: ${JSON.stringify(listed)}`);

  // Each socket's page lists its rooms: its own and the one it joined.
  for (const [s, room, other] of [[a1, "room-a", "room-b"], [a2, "room-a", "room-b"], [b1, "room-b", "room-a"]]) {
    await page.goto(`${caddy.url}${UI}#/sockets/`); // the socket page reads its socket when mounted
    await page.locator("table tbody tr", { hasText: s.id }).click();
    const rooms = page.locator(".v-card", { hasText: "Rooms" }).locator("table tbody tr");
    await rooms.filter({ hasText: room }).waitFor();
    await rooms.filter({ hasText: s.id }).waitFor();
    assert.equal(await rooms.filter({ hasText: other }).count(), 0, `${s.id} is not in ${other}`);
  }
  // The rooms page: room-a with 2 sockets, room-b with 1.
  await page.goto(`${caddy.url}${UI}#/rooms/`);
  const roomRow = (name) => page.locator("table tbody tr", { hasText: name }).first();
  await roomRow("room-a").waitFor();
  await roomRow("room-b").waitFor();
  const counts = await page.$$eval("table tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent.trim())));
  assert.ok(counts.some((c) => c[0] === "room-a" && c[2] === "2"), `room-a has 2 sockets: ${JSON.stringify(counts)}`);
  assert.ok(counts.some((c) => c[0] === "room-b" && c[2] === "1"), `room-b has 1 socket: ${JSON.stringify(counts)}`);
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, "admin-ui-rooms.png") });

  await socketRows(page);
  await waitForIds(page, [a1.id, a2.id, b1.id]);
  await page.screenshot({ path: join(shots, "admin-ui.png") });

  // A click on b1's disconnect button disconnects b1, and only b1.
  const gone = next(b1, "disconnect", "b1 disconnected by the UI");
  await clickDisconnect(page, b1.id);
  const [reason] = await gone;
  assert.equal(reason, "io server disconnect");
  await page.waitForFunction((id) => ![...document.querySelectorAll("table tbody tr")].some((tr) => tr.textContent.includes(id)), b1.id);
  assert.ok(a1.connected && a2.connected, "the other clients stay connected");
  assert.deepEqual(errors, []);
});

/** Resolves true when redis answers PING on port. */
function ping(port) {
  return new Promise((resolve) => {
    const s = netConnect(port, "127.0.0.1");
    const t = setTimeout(() => { s.destroy(); resolve(false); }, 300);
    s.on("error", () => { clearTimeout(t); resolve(false); });
    s.on("connect", () => s.write("PING\r\n"));
    s.on("data", (d) => { clearTimeout(t); s.destroy(); resolve(d.toString().startsWith("+PONG")); });
  });
}

test("the Admin UI against two Caddy nodes on Redis", { skip: redisBin ? false : "redis-server not found" }, async () => {
  const port = await freePort();
  const redis = spawn(redisBin, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
  cleanups.push(async () => {
    const exited = new Promise((r) => redis.once("exit", r));
    redis.kill("SIGKILL");
    await within(5_000, exited, "redis-server to exit");
  });
  await waitUntil(10_000, () => ping(port), "redis-server");

  const hash = await hashPassword(PASSWORD);
  const adapter = `adapter redis redis://127.0.0.1:${port} {
			prefix admin-e2e
			requests_timeout 3s
		}`;
  const n1 = await startCaddy({ caddyfileText: siteConfig(hash, { serverId: "node-1", adapter }) });
  cleanups.push(() => n1.stop());
  const n2 = await startCaddy({ caddyfileText: siteConfig(hash, { serverId: "node-2", adapter }) });
  cleanups.push(() => n2.stop());

  const c1 = await client(n1.url, "room-1");
  const c2 = await client(n2.url, "room-2");

  const { page, errors } = await openUI(n1.url);
  await login(page, n1.url, PASSWORD);
  await page.getByLabel("Server URL").waitFor({ state: "hidden" });

  await page.goto(`${n1.url}${UI}#/servers/`);
  await page.locator("table tbody tr", { hasText: "node-1" }).waitFor();
  await page.locator("table tbody tr", { hasText: "node-2" }).waitFor();

  await socketRows(page);
  await waitForIds(page, [c1.id, c2.id]);

  // A click in node 1's UI disconnects the client of node 2.
  const gone = next(c2, "disconnect", "node 2's client disconnected by the UI");
  await clickDisconnect(page, c2.id);
  assert.equal((await gone)[0], "io server disconnect");
  assert.ok(c1.connected);
  assert.deepEqual(errors, []);
});
