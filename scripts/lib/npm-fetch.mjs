// Shared by the scripts that copy files, unmodified, out of a published npm
// package into the repository (scripts/fetch-client.mjs, scripts/fetch-admin-ui.mjs):
// command line, lockfile lookup, tarball download with integrity checks, the
// staged swap of the output folder and the cross-check against an installed copy.
//
// Only Node built-ins plus the npm and tar command-line tools are used.

import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

export class FetchError extends Error {}

export function die(msg) {
  throw new FetchError(msg); // thrown (not process.exit) so the temp dirs get cleaned up
}

export const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

// parseArgs reads [--version X.Y.Z] [--lockfile PATH]; script is the script's
// path as shown in the usage line, lockfile the default lockfile.
export function parseArgs(argv, { script, lockfile }) {
  const opts = { version: null, lockfile };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const eq = a.indexOf("=");
    const key = eq >= 0 ? a.slice(0, eq) : a;
    const val = () => (eq >= 0 ? a.slice(eq + 1) : argv[++i]);
    if (key === "--version") opts.version = val();
    else if (key === "--lockfile") opts.lockfile = path.resolve(val());
    else if (key === "-h" || key === "--help") {
      console.log(`usage: node ${script} [--version X.Y.Z] [--lockfile PATH]`);
      process.exit(0);
    } else die(`unknown argument ${a}`);
  }
  if (opts.version !== null && !/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/.test(opts.version ?? "")) {
    die(`invalid --version ${JSON.stringify(opts.version)}`);
  }
  return opts;
}

// readLock returns the version and integrity of package name in lockfile, or
// null when the lockfile does not exist. legacy also accepts a lockfile v1
// `dependencies` entry.
export function readLock(lockfile, name, { legacy = false } = {}) {
  if (!fs.existsSync(lockfile)) return null;
  const lock = JSON.parse(fs.readFileSync(lockfile, "utf8"));
  let entry = lock.packages?.[`node_modules/${name}`];
  if (legacy) entry ??= lock.dependencies?.[name];
  if (!entry?.version) die(`${lockfile} has no node_modules/${name} version`);
  return { version: entry.version, integrity: entry.integrity ?? null };
}

// resolveVersion picks --version, else the lockfile's version, else fallback
// (or fails when there is no fallback).
export function resolveVersion(opts, lock, fallback = null) {
  let version = opts.version;
  if (version === null) {
    if (lock) {
      version = lock.version;
      console.log(`version ${version} from ${path.relative(repoRoot, opts.lockfile)}`);
    } else if (fallback !== null) {
      version = fallback;
      console.log(`${path.relative(repoRoot, opts.lockfile)} not found; using default ${version}`);
    } else {
      die(`${opts.lockfile} not found: pass --version`);
    }
  } else if (lock && lock.version !== version) {
    console.warn(`warning: --version ${version} differs from lockfile version ${lock.version}`);
  }
  return version;
}

export function run(cmd, args, options) {
  try {
    return execFileSync(cmd, args, options);
  } catch (e) {
    die(`${cmd} ${args.join(" ")} failed (${e.status ?? e.code})`);
  }
}

// withPackage downloads name@version with npm pack into a temp dir (prefix
// tmpPrefix), checks the tarball's sha512 against npm's and, when the
// versions agree, the lockfile's, unpacks it and calls fn({ pkgDir, integrity }).
// The temp dir is removed afterwards.
export function withPackage({ name, version, lock, tmpPrefix }, fn) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), tmpPrefix));
  try {
    // npm pack: download the published tarball exactly as on the registry.
    const npm = process.platform === "win32" ? "npm.cmd" : "npm";
    const out = run(npm, ["pack", `${name}@${version}`, "--json", "--pack-destination", tmp], {
      cwd: tmp,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      shell: process.platform === "win32",
    });
    const info = JSON.parse(out)[0];
    if (info.name !== name || info.version !== version) {
      die(`npm pack returned ${info.name}@${info.version}, want ${name}@${version}`);
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
    if (pkg.name !== name || pkg.version !== version) die(`tarball contains ${pkg.name}@${pkg.version}`);
    fn({ pkgDir, integrity });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

// replaceDir builds the new outDir in a staging folder next to it (fill(stage)
// writes the files), then swaps it in; a failure leaves outDir as it was.
export function replaceDir(outDir, fill) {
  fs.mkdirSync(path.dirname(outDir), { recursive: true });
  const stage = fs.mkdtempSync(path.join(path.dirname(outDir), ".stage-"));
  fs.chmodSync(stage, 0o755);
  try {
    fill(stage);
    fs.rmSync(outDir, { recursive: true, force: true });
    fs.renameSync(stage, outDir);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

// crossCheck compares the fetched files (names, relative to fetchedDir) with
// the copy npm installed for the tests in installed (slash-separated, relative
// to the repository), under its folder sub, when that copy has the same version.
export function crossCheck({ installed, sub, version, names, fetchedDir }) {
  const dir = path.join(repoRoot, ...installed.split("/"));
  try {
    const ipkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    if (ipkg.version === version) {
      for (const name of names) {
        const a = fs.readFileSync(path.join(dir, ...sub.split("/"), name));
        if (!a.equals(fs.readFileSync(path.join(fetchedDir, name)))) die(`${sub}/${name} differs from ${dir}`);
      }
      console.log(`identical to ${installed}/${sub}`);
    }
  } catch (e) {
    if (e.code !== "ENOENT") throw e;
  }
}

// main runs fn, reporting a FetchError as "prog: message" with exit status 1.
export function main(prog, fn) {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof FetchError)) throw e;
    console.error(`${prog}: ${e.message}`);
    process.exitCode = 1;
  }
}
