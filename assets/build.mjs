// Builds the web UI's front-end files into broadsheet/web/static/vendor/ (run by `make assets`).
//
// The outputs are committed, so installing and running Broadsheet need pip only. Beside them the
// build writes manifest.json: each output's size, gzip size and sha256, and the sha256 of every
// input (the lock, this script, our sources). tests/web/test_assets.py checks both, so an
// output edited by hand, or a source changed without building again, fails the tests.
// THIRD-PARTY-LICENSES.txt carries the licences of every package bundled.

import { createHash } from "node:crypto";
import { mkdir, readFile, readdir, writeFile } from "node:fs/promises";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "broadsheet", "web", "static", "vendor");

// Our modules, each bundled with what it imports into one self-contained classic script.
const BUNDLES = {
  "csrf.js": "src/csrf.js",
  "charts.js": "src/charts.js",
  "sql-editor.js": "src/sql-editor.js",
};
// Files shipped as their package publishes them.
const COPIES = { "htmx.min.js": "node_modules/htmx.org/dist/htmx.min.js" };

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

async function bundle(entry) {
  const result = await esbuild.build({
    absWorkingDir: here,
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "iife",
    target: "es2020",
    legalComments: "none", // the licences are in THIRD-PARTY-LICENSES.txt
    define: { "process.env.NODE_ENV": '"production"' },
    metafile: true,
    write: false,
    logLevel: "warning",
  });
  return { bytes: result.outputFiles[0].contents, inputs: Object.keys(result.metafile.inputs) };
}

// The package directory an input path lies in: node_modules/a/… or node_modules/@s/a/….
function packageDir(input) {
  const parts = input.split(/[\\/]/);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) return null;
  const length = parts[at + 1].startsWith("@") ? 2 : 1;
  return parts.slice(0, at + 1 + length).join(sep);
}

async function licenceText(dir) {
  const names = (await readdir(join(here, dir))).filter((n) => /^(licen[cs]e|copying)/i.test(n));
  return names.length ? (await readFile(join(here, dir, names.sort()[0]), "utf8")).trim() : "";
}

async function licences(packageDirs) {
  const sections = [];
  for (const dir of [...packageDirs].sort()) {
    const meta = JSON.parse(await readFile(join(here, dir, "package.json"), "utf8"));
    const text = await licenceText(dir);
    sections.push(
      `${meta.name} ${meta.version} (${meta.license})\n\n${text || "No licence file shipped."}`,
    );
  }
  const rule = `\n\n${"-".repeat(78)}\n\n`;
  return `The files in this directory bundle these packages, under these licences.${rule}${sections.join(rule)}\n`;
}

async function inputsDigest() {
  const files = ["package.json", "package-lock.json", "build.mjs"];
  for (const name of (await readdir(join(here, "src"))).sort()) files.push(`src/${name}`);
  const digest = {};
  for (const file of files) digest[file] = sha256(await readFile(join(here, file)));
  return digest;
}

async function main() {
  await mkdir(out, { recursive: true });
  const outputs = {};
  const bundled = new Set();
  for (const [name, entry] of Object.entries(BUNDLES)) {
    const { bytes, inputs } = await bundle(entry);
    outputs[name] = bytes;
    for (const input of inputs) {
      const dir = packageDir(input);
      if (dir) bundled.add(dir);
    }
  }
  for (const [name, source] of Object.entries(COPIES)) {
    outputs[name] = await readFile(join(here, source));
    bundled.add(packageDir(source));
  }
  outputs["THIRD-PARTY-LICENSES.txt"] = Buffer.from(await licences(bundled));

  const files = {};
  for (const name of Object.keys(outputs).sort()) {
    const bytes = outputs[name];
    await writeFile(join(out, name), bytes);
    files[name] = {
      bytes: bytes.length,
      gzipBytes: gzipSync(bytes, { level: 9 }).length,
      sha256: sha256(bytes),
    };
  }
  const lock = JSON.parse(await readFile(join(here, "package-lock.json"), "utf8"));
  const direct = Object.keys(lock.packages[""].dependencies).sort();
  const manifest = {
    builtBy: "assets/build.mjs (make assets)",
    packages: Object.fromEntries(
      direct.map((name) => [name, lock.packages[`node_modules/${name}`].version]),
    ),
    inputs: await inputsDigest(),
    files,
  };
  await writeFile(join(out, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [name, file] of Object.entries(files)) {
    const kb = (n) => `${(n / 1024).toFixed(1)} KB`.padStart(9);
    console.log(`${name.padEnd(26)} ${kb(file.bytes)} ${kb(file.gzipBytes)} gzip`);
  }
}

await main();
