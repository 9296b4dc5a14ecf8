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
// Only Node built-ins plus the npm and tar command-line tools are used; the shared
// parts are in scripts/lib/npm-fetch.mjs.

import fs from "node:fs";
import path from "node:path";
import {
  crossCheck, die, main, parseArgs, readLock, replaceDir, repoRoot, resolveVersion, sha256, withPackage,
} from "./lib/npm-fetch.mjs";

const PKG = "@socket.io/admin-ui";
const outDir = path.join(repoRoot, "socketio", "admin", "uidist", "admin-ui");

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

function fetchAdminUI() {
  const opts = parseArgs(process.argv.slice(2), {
    script: "scripts/fetch-admin-ui.mjs",
    lockfile: path.join(repoRoot, "test", "e2e", "package-lock.json"),
  });
  const lock = readLock(opts.lockfile, PKG);
  const version = resolveVersion(opts, lock);

  withPackage({ name: PKG, version, lock, tmpPrefix: "fetch-admin-ui-" }, ({ pkgDir, integrity }) => {
    const dist = path.join(pkgDir, "ui", "dist");
    if (!fs.existsSync(path.join(dist, "index.html"))) die(`ui/dist/index.html missing from ${PKG}@${version}`);

    replaceDir(outDir, (stage) => {
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
      crossCheck({
        installed: "test/e2e/node_modules/@socket.io/admin-ui",
        sub: "ui/dist",
        version,
        names,
        fetchedDir: path.join(stage, "dist"),
      });
    });
    console.log(`${PKG}@${version} ui/dist written to ${path.relative(repoRoot, outDir)}/dist/`);
  });
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

main("fetch-admin-ui", fetchAdminUI);
