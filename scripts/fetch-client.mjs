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
// Only Node built-ins plus the npm and tar command-line tools are used.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import zlib from "node:zlib";

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

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(repoRoot, "socketio", "clientdist", "socket.io-client");

class FetchError extends Error {}

function die(msg) {
  throw new FetchError(msg); // thrown (not process.exit) so the temp dirs get cleaned up
}

function parseArgs(argv) {
  const opts = { version: null, lockfile: path.join(repoRoot, "test", "interop", "package-lock.json") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const val = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === "--version") opts.version = val();
    else if (key === "--lockfile") opts.lockfile = path.resolve(val());
    else if (key === "-h" || key === "--help") {
      console.log("usage: node scripts/fetch-client.mjs [--version X.Y.Z] [--lockfile PATH]");
      process.exit(0);
    } else die(`unknown argument ${a}`);
  }
  if (opts.version !== null && !/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(opts.version ?? "")) {
    die(`invalid --version ${JSON.stringify(opts.version)}`);
  }
  return opts;
}

function readLock(lockfile) {
  if (!fs.existsSync(lockfile)) return null;
  const lock = JSON.parse(fs.readFileSync(lockfile, "utf8"));
  const entry = lock.packages?.["node_modules/socket.io-client"] ?? lock.dependencies?.["socket.io-client"];
  if (!entry?.version) die(`${lockfile} has no node_modules/socket.io-client version`);
  return { version: entry.version, integrity: entry.integrity ?? null };
}

function run(cmd, args, options) {
  try {
    return execFileSync(cmd, args, options);
  } catch (e) {
    die(`${cmd} ${args.join(" ")} failed (${e.status ?? e.code})`);
  }
}

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const lock = readLock(opts.lockfile);
  let version = opts.version;
  if (version === null) {
    if (lock) {
      version = lock.version;
      console.log(`version ${version} from ${path.relative(repoRoot, opts.lockfile)}`);
    } else {
      version = FALLBACK_VERSION;
      console.log(`${path.relative(repoRoot, opts.lockfile)} not found; using default ${version}`);
    }
  } else if (lock && lock.version !== version) {
    console.warn(`warning: --version ${version} differs from lockfile version ${lock.version}`);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fetch-socket.io-client-"));
  try {
    // npm pack: download the published tarball exactly as on the registry.
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const out = run(
      npm,
      ["pack", `socket.io-client@${version}`, "--json", "--pack-destination", tmp],
      { cwd: tmp, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], shell: process.platform === "win32" },
    );
    const info = JSON.parse(out)[0];
    if (info.name !== "socket.io-client" || info.version !== version) {
      die(`npm pack returned ${info.name}@${info.version}, want socket.io-client@${version}`);
    }
    const tgz = path.join(tmp, info.filename);
    const tgzBytes = fs.readFileSync(tgz);
    const integrity = "sha512-" + createHash("sha512").update(tgzBytes).digest("base64");
    if (integrity !== info.integrity) die(`tarball integrity ${integrity} != npm's ${info.integrity}`);
    if (lock && lock.version === version && lock.integrity) {
      if (lock.integrity !== integrity) die(`tarball integrity ${integrity} != lockfile ${lock.integrity}`);
      console.log("tarball integrity matches the lockfile");
    }

    run("tar", ["-xzf", tgz, "-C", tmp], { stdio: "inherit" });
    const pkgDir = path.join(tmp, "package");
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    if (pkg.name !== "socket.io-client" || pkg.version !== version) {
      die(`tarball contains ${pkg.name}@${pkg.version}`);
    }

    // Build the new folder next to the old one, then swap.
    fs.mkdirSync(path.dirname(outDir), { recursive: true });
    const stage = fs.mkdtempSync(path.join(path.dirname(outDir), ".stage-"));
    fs.chmodSync(stage, 0o755);
    try {
      const sums = [];
      for (const name of FILES) {
        const src = path.join(pkgDir, "dist", name);
        if (!fs.existsSync(src)) die(`dist/${name} missing from socket.io-client@${version}`);
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
      const installed = path.join(repoRoot, "test", "interop", "node_modules", "socket.io-client");
      try {
        const ipkg = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
        if (ipkg.version === version) {
          for (const name of FILES) {
            const a = fs.readFileSync(path.join(installed, "dist", name));
            if (!a.equals(fs.readFileSync(path.join(stage, name)))) die(`dist/${name} differs from ${installed}`);
          }
          console.log("identical to test/interop/node_modules/socket.io-client/dist");
        }
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }

      fs.rmSync(outDir, { recursive: true, force: true });
      fs.renameSync(stage, outDir);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
    console.log(`socket.io-client@${version} written to ${path.relative(repoRoot, outDir)}/`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
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

try {
  main();
} catch (e) {
  if (!(e instanceof FetchError)) throw e;
  console.error(`fetch-client: ${e.message}`);
  process.exitCode = 1;
}
