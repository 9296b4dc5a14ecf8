#!/usr/bin/env node
// Fetches the official socket.io-client browser bundles from the npm registry and
// stores them, unmodified, in socketio/clientdist/socket.io-client/ for go:embed.
//
// Usage: node scripts/fetch-client.mjs [--version X.Y.Z] [--lockfile PATH]
//
// Version: --version if given, else the `node_modules/socket.io-client` entry of
// test/interop/package-lock.json, else 4.8.3 (only when the lockfile does not exist).
// When the version matches the lockfile, the tarball's sha512 must match the
// lockfile's `integrity`.
//
// Only Node built-ins plus the npm and tar command-line tools are used; the shared
// parts are in scripts/lib/npm-fetch.mjs.

import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import {
  crossCheck, die, main, parseArgs, readLock, replaceDir, repoRoot, resolveVersion, sha256, withPackage,
} from "./lib/npm-fetch.mjs";

const PKG = "socket.io-client";
const FALLBACK_VERSION = "4.8.3";
const FILES = [
  "socket.io.js",
  "socket.io.js.map",
  "socket.io.min.js",
  "socket.io.min.js.map",
  "socket.io.esm.min.js",
  "socket.io.esm.min.js.map",
  "socket.io.msgpack.min.js",
  "socket.io.msgpack.min.js.map",
];

const outDir = path.join(repoRoot, "socketio", "clientdist", "socket.io-client");

function fetchClient() {
  const opts = parseArgs(process.argv.slice(2), {
    script: "scripts/fetch-client.mjs",
    lockfile: path.join(repoRoot, "test", "interop", "package-lock.json"),
  });
  const lock = readLock(opts.lockfile, PKG, { legacy: true });
  const version = resolveVersion(opts, lock, FALLBACK_VERSION);

  withPackage({ name: PKG, version, lock, tmpPrefix: "fetch-socket.io-client-" }, ({ pkgDir, integrity }) => {
    replaceDir(outDir, (stage) => {
      const sums = [];
      for (const name of FILES) {
        const src = path.join(pkgDir, "dist", name);
        if (!fs.existsSync(src)) die(`dist/${name} missing from ${PKG}@${version}`);
        const data = fs.readFileSync(src);
        fs.writeFileSync(path.join(stage, name), data);
        sums.push(`${sha256(data)}  ${name}\n`);

        const gz = zlib.gzipSync(data, { level: zlib.constants.Z_BEST_COMPRESSION });
        const br = zlib.brotliCompressSync(data, {
          params: {
            [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
            [zlib.constants.BROTLI_PARAM_QUALITY]: zlib.constants.BROTLI_MAX_QUALITY,
            [zlib.constants.BROTLI_PARAM_LGWIN]: zlib.constants.BROTLI_MAX_WINDOW_BITS,
            [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
          },
        });
        // Round-trip check of our own precompression.
        if (!zlib.gunzipSync(gz).equals(data) || !zlib.brotliDecompressSync(br).equals(data)) {
          die(`precompression round-trip failed for ${name}`);
        }
        fs.writeFileSync(path.join(stage, `${name}.gz`), gz);
        fs.writeFileSync(path.join(stage, `${name}.br`), br);
        console.log(`  ${name.padEnd(30)} ${String(data.length).padStart(7)}  gz ${String(gz.length).padStart(6)}  br ${String(br.length).padStart(6)}`);
      }
      fs.copyFileSync(path.join(pkgDir, "LICENSE"), path.join(stage, "LICENSE"));
      fs.writeFileSync(path.join(stage, "VERSION"), `${version}\n`);
      fs.writeFileSync(path.join(stage, "SHA256SUMS"), sums.join(""));
      fs.writeFileSync(path.join(stage, "README.md"), readme(version, integrity));

      // Cross-check against the copy npm installed for the interop tests, if any.
      crossCheck({ installed: "test/interop/node_modules/socket.io-client", sub: "dist", version, names: FILES, fetchedDir: stage });
    });
    console.log(`${PKG}@${version} written to ${path.relative(repoRoot, outDir)}/`);
  });
}

function readme(version, integrity) {
  return `# socket.io-client ${version} browser bundles

These are the official Socket.IO browser client bundles, served by the Go server at
\`<path>/socket.io.js\` etc. (like the Node \`socket.io\` server's \`serveClient\` option) and
embedded by the \`clientdist\` Go package.

* Source: the npm package [\`socket.io-client@${version}\`](https://www.npmjs.com/package/socket.io-client/v/${version}),
  its \`dist/\` directory (tarball integrity \`${integrity}\`).
* The 8 \`socket.io*.js\` / \`*.map\` files are **unmodified third-party files**, copyright
  Guillermo Rauch and the Socket.IO contributors, under the MIT licence in [LICENSE](LICENSE)
  (copied from the package). \`SHA256SUMS\` lists their hashes as published.
* Ours: \`VERSION\`, \`SHA256SUMS\`, this README, and the precompressed copies \`*.gz\`
  (gzip level 9) and \`*.br\` (brotli quality 11) of each file.

Do not edit these files by hand. To refresh them (the version comes from
\`test/interop/package-lock.json\`, or pass \`--version X.Y.Z\`):

    node scripts/fetch-client.mjs
`;
}

main("fetch-client", fetchClient);
