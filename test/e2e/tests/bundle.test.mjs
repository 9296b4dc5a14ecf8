// The client bundles served by the socketio handler: the official files,
// ETag revalidation, precompressed gzip and brotli.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { get } from "node:http";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { gunzipSync, brotliDecompressSync } from "node:zlib";
import { dirname, join } from "node:path";
import { startCaddy, within } from "../lib/caddy.mjs";

const require = createRequire(import.meta.url);
const dist = join(dirname(require.resolve("socket.io-client/package.json")), "dist");

let caddy;
before(async () => { caddy = await startCaddy(); });
after(async () => { await caddy?.stop(); });

// GET with exact headers (fetch would add Accept-Encoding and decompress).
function fetchRaw(path, headers = {}) {
  return within(10_000, new Promise((resolve, reject) => {
    get(caddy.url + path, { headers }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    }).on("error", reject);
  }), `GET ${path}`);
}

test("socket.io.js is the official bundle, with an ETag", async () => {
  const res = await fetchRaw("/socket.io/socket.io.js", { "Accept-Encoding": "identity" });
  assert.equal(res.status, 200);
  assert.match(res.headers["content-type"], /^application\/javascript/);
  assert.ok(res.headers.etag, "ETag header");
  assert.equal(res.headers["content-encoding"], undefined);
  assert.ok(res.body.equals(readFileSync(join(dist, "socket.io.js"))), "body differs from socket.io-client/dist/socket.io.js");

  const again = await fetchRaw("/socket.io/socket.io.js", { "If-None-Match": res.headers.etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
});

test("gzip and brotli variants", async () => {
  const plain = readFileSync(join(dist, "socket.io.min.js"));
  const gz = await fetchRaw("/socket.io/socket.io.min.js", { "Accept-Encoding": "gzip" });
  assert.equal(gz.status, 200);
  assert.equal(gz.headers["content-encoding"], "gzip");
  assert.match(gz.headers.vary ?? "", /Accept-Encoding/i);
  assert.ok(gunzipSync(gz.body).equals(plain), "gunzipped body differs");

  const br = await fetchRaw("/socket.io/socket.io.min.js", { "Accept-Encoding": "br" });
  assert.equal(br.status, 200);
  assert.equal(br.headers["content-encoding"], "br");
  assert.ok(brotliDecompressSync(br.body).equals(plain), "brotli body differs");

  const gz304 = await fetchRaw("/socket.io/socket.io.min.js", { "Accept-Encoding": "gzip", "If-None-Match": gz.headers.etag });
  assert.equal(gz304.status, 304);
});

test("the other bundles and source maps", async () => {
  for (const name of ["socket.io.js.map", "socket.io.min.js.map", "socket.io.esm.min.js", "socket.io.msgpack.min.js"]) {
    const res = await fetchRaw("/socket.io/" + name, { "Accept-Encoding": "identity" });
    assert.equal(res.status, 200, name);
    assert.ok(res.body.equals(readFileSync(join(dist, name))), `${name} differs`);
  }
});

test("other paths go to the next handler (file_server)", async () => {
  const page = await fetchRaw("/");
  assert.equal(page.status, 200);
  assert.match(page.body.toString(), /<script src="\/socket.io\/socket.io.js"><\/script>/);
  const missing = await fetchRaw("/nothing-here");
  assert.equal(missing.status, 404);
});
