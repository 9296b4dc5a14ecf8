#!/usr/bin/env node
// Fetches the official Socket.IO Admin UI (the built web app in ui/dist of the
// @socket.io/admin-ui npm package) and stores it, unmodified, in
// socketio/admin/uidist/admin-ui/ for go:embed.
//
// Usage: node scripts/fetch-admin-ui.mjs [--version X.Y.Z] [--lockfile PATH]
//
// Version: --version if given, else the `node_modules/@socket.io/admin-ui`
// entry of test/e2e/package-lock.json. When the version matches the
// lockfile, the tarball's sha512 must match the lockfile's `integrity`.
//
// Only Node built-ins plus the npm and tar command-line tools are used.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const PKG = "@socket.io/admin-ui";
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outDir = path.join(repoRoot, "socketio", "admin", "uidist", "admin-ui");

class FetchError extends Error {}

function die(msg) {
  throw new FetchError(msg); // thrown (not process.exit) so the temp dirs get cleaned up
}

function parseArgs(argv) {
  const opts = { version: null, lockfile: path.join(repoRoot, "test", "e2e", "package-lock.json") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const val = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === "--version") opts.version = val();
    else if (key === "--lockfile") opts.lockfile = path.resolve(val());
    else if (key === "-h" || key === "--help") {
      console.log("usage: node scripts/fetch-admin-ui.mjs [--version X.Y.Z] [--lockfile PATH]");
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
  const entry = lock.packages?.[`node_modules/${PKG}`];
  if (!entry?.version) die(`${lockfile} has no node_modules/${PKG} version`);
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

// files lists the regular files under dir, as sorted slash-separated paths.
function files(dir, prefix = "") {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...files(path.join(dir, ent.name), rel));
    else if (ent.isFile()) out.push(rel);
    else die(`unexpected entry ${rel} in ui/dist`);
  }
  return out.sort();
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const lock = readLock(opts.lockfile);
  let version = opts.version;
  if (version === null) {
    if (!lock) die(`${opts.lockfile} not found: pass --version`);
    version = lock.version;
    console.log(`version ${version} from ${path.relative(repoRoot, opts.lockfile)}`);
  } else if (lock && lock.version !== version) {
    console.warn(`warning: --version ${version} differs from lockfile version ${lock.version}`);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "fetch-admin-ui-"));
  try {
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const out = run(npm, ["pack", `${PKG}@${version}`, "--json", "--pack-destination", tmp], {
      cwd: tmp,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      shell: process.platform === "win32",
    });
    const info = JSON.parse(out)[0];
    if (info.name !== PKG || info.version !== version) {
      die(`npm pack returned ${info.name}@${info.version}, want ${PKG}@${version}`);
    }
    const tgz = path.join(tmp, info.filename);
    const integrity = "sha512-" + createHash("sha512").update(fs.readFileSync(tgz)).digest("base64");
    if (integrity !== info.integrity) die(`tarball integrity ${integrity} != npm's ${info.integrity}`);
    if (lock && lock.version === version && lock.integrity) {
      if (lock.integrity !== integrity) die(`tarball integrity ${integrity} != lockfile ${lock.integrity}`);
      console.log("tarball integrity matches the lockfile");
    }

    run("tar", ["-xzf", tgz, "-C", tmp], { stdio: "inherit" });
    const pkgDir = path.join(tmp, "package");
    const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    if (pkg.name !== PKG || pkg.version !== version) die(`tarball contains ${pkg.name}@${pkg.version}`);
    const dist = path.join(pkgDir, "ui", "dist");
    if (!fs.existsSync(path.join(dist, "index.html"))) die(`ui/dist/index.html missing from ${PKG}@${version}`);

    fs.mkdirSync(path.dirname(outDir), { recursive: true });
    const stage = fs.mkdtempSync(path.join(path.dirname(outDir), ".stage-"));
    fs.chmodSync(stage, 0o755);
    try {
      const sums = [];
      const names = files(dist);
      for (const name of names) {
        const data = fs.readFileSync(path.join(dist, name));
        const dst = path.join(stage, "dist", name);
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        fs.writeFileSync(dst, data);
        sums.push(`${sha256(data)}  dist/${name}\n`);
        console.log(`  ${name.padEnd(40)} ${String(data.length).padStart(8)}`);
      }
      fs.copyFileSync(path.join(pkgDir, "LICENSE"), path.join(stage, "LICENSE"));
      fs.writeFileSync(path.join(stage, "VERSION"), `${version}\n`);
      fs.writeFileSync(path.join(stage, "SHA256SUMS"), sums.join(""));
      fs.writeFileSync(path.join(stage, "README.md"), readme(version, integrity, names.length));

      // Cross-check against the copy npm installed for the e2e tests, if any.
      const installed = path.join(repoRoot, "test", "e2e", "node_modules", "@socket.io", "admin-ui");
      try {
        const ipkg = JSON.parse(fs.readFileSync(path.join(installed, "package.json"), "utf8"));
        if (ipkg.version === version) {
          for (const name of names) {
            const a = fs.readFileSync(path.join(installed, "ui", "dist", name));
            if (!a.equals(fs.readFileSync(path.join(stage, "dist", name)))) die(`ui/dist/${name} differs from ${installed}`);
          }
          console.log("identical to test/e2e/node_modules/@socket.io/admin-ui/ui/dist");
        }
      } catch (e) {
        if (e.code !== "ENOENT") throw e;
      }

      fs.rmSync(outDir, { recursive: true, force: true });
      fs.renameSync(stage, outDir);
    } finally {
      fs.rmSync(stage, { recursive: true, force: true });
    }
    console.log(`${PKG}@${version} ui/dist written to ${path.relative(repoRoot, outDir)}/dist/`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function readme(version, integrity, count) {
  return `# Socket.IO Admin UI ${version} (built web app)

The official Socket.IO Admin UI, served by the \`socketio/admin/uidist\` Go package
(and by Caddy's \`admin_ui { serve_ui <path> }\`) so that the dashboard works without
admin.socket.io and without internet access.

* Source: the npm package [\`${PKG}@${version}\`](https://www.npmjs.com/package/${PKG}/v/${version}),
  its \`ui/dist/\` directory (tarball integrity \`${integrity}\`).
* The ${count} files under \`dist/\` are **unmodified third-party files**, copyright the
  Socket.IO team, under the MIT licence in [LICENSE](LICENSE) (copied from the package).
  The bundled JavaScript contains third-party libraries (Vue, Vuetify, Chart.js and others)
  under their own licences, as published in the package. \`SHA256SUMS\` lists the files'
  hashes as published.
* Ours: \`VERSION\`, \`SHA256SUMS\` and this README.

The page loads its fonts (Roboto) and icons (Material Design Icons) from
fonts.googleapis.com and cdn.jsdelivr.net; without internet access it works with
fallback fonts and without icons.

Do not edit these files by hand. To refresh them (the version comes from
\`test/e2e/package-lock.json\`, or pass \`--version X.Y.Z\`):

    node scripts/fetch-admin-ui.mjs
`;
}

try {
  main();
} catch (e) {
  if (!(e instanceof FetchError)) throw e;
  console.error(`fetch-admin-ui: ${e.message}`);
  process.exitCode = 1;
}
