// The seed chat page (examples/chat) in two headless Chromium pages, served
// by Caddy from Caddyfile.example: greeting, /system notice, rooms.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { chromium } from "playwright-core";
import { startCaddy } from "../lib/caddy.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const WAIT = 10_000;

let caddy;
let browser;
before(async () => {
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (set CHROMIUM_PATH)`);
  caddy = await startCaddy();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    timeout: 30_000,
  });
});
after(async () => {
  await browser?.close();
  await caddy?.stop();
});

async function openChat(nick) {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = [];
  page.on("pageerror", (err) => errors.push(err));
  await page.goto(caddy.url + "/");
  await page.waitForFunction(() => document.getElementById("status").textContent === "connected");
  await page.fill("#nick", nick);
  return { page, context, errors };
}

async function join(page, room) {
  await page.fill("#room", room);
  await page.click("#join");
  // The page shows the room from the server's acknowledgement.
  await page.waitForFunction((r) => document.getElementById("current-room").textContent === r, room);
}

async function say(page, msg) {
  await page.fill("#msg", msg);
  await page.click("#send");
}

const messages = (page) => page.$$eval("#messages li", (lis) => lis.map((li) => li.textContent));

async function waitForMessage(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll("#messages li")].some((li) => li.textContent === t),
    text,
  );
}

test("seed chat in two browser pages", async () => {
  const alice = await openChat("alice");
  const bob = await openChat("bob");
  try {
    for (const { page } of [alice, bob]) {
      // hello {message} on "/" and message "Notice !" on "/system".
      await page.waitForFunction(() => document.getElementById("greeting").textContent === "Welcome to Socket io ~");
      await page.waitForFunction(() => document.getElementById("notice").textContent === "system message : Notice !");
    }

    await join(alice.page, "lobby");
    await join(bob.page, "lobby");
    await say(alice.page, "hello lobby");
    await waitForMessage(alice.page, "alice : hello lobby");
    await waitForMessage(bob.page, "alice : hello lobby");

    // Bob moves to another room (joinRoom leaves the previous one).
    await join(bob.page, "kitchen");
    await say(alice.page, "only the lobby");
    await waitForMessage(alice.page, "alice : only the lobby");
    // Bob's own message in the kitchen comes after anything sent to him
    // before it; alice's second message must not be among them.
    await say(bob.page, "in the kitchen");
    await waitForMessage(bob.page, "bob : in the kitchen");
    assert.deepEqual(await messages(bob.page), ["alice : hello lobby", "bob : in the kitchen"]);
    assert.deepEqual(await messages(alice.page), ["alice : hello lobby", "alice : only the lobby"]);

    assert.deepEqual(alice.errors, []);
    assert.deepEqual(bob.errors, []);
  } finally {
    await alice.context.close();
    await bob.context.close();
  }
});
