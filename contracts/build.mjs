// Compiles go402's test contracts (the TestUSDC token, the Multicall3
// batcher, the x402 batch-settlement escrow with its ERC-3009 deposit
// collector, Permit2's signature transfer, the x402 exact and upto Permit2
// proxies and the TestPermitToken) with the pinned solc-js and writes the artifacts that the Go
// package `contracts` embeds.
//
//   node build.mjs [outDir]     (default outDir: artifacts, relative to this file)
//
// Settings are fixed (optimizer on with 200 runs, evmVersion cancun, no
// metadata hash and no CBOR trailer) so the output depends only on the sources
// and the locked compiler and library versions: the same inputs always give
// byte-identical artifacts. contracts_test.go relies on that.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = path.dirname(fileURLToPath(import.meta.url));
const srcDir = path.join(here, "src");
const modulesDir = path.join(here, "node_modules");
const outDir = path.resolve(process.argv[2] ?? path.join(here, "artifacts"));

// Contracts whose artifacts are written. Each target gets <name>.abi.json and
// <file> holding the hex of the selected bytecode: the tokens' creation code
// (they are deployed by transactions) and the runtime code of the others (they
// are placed directly in the devnet's genesis).
const targets = [
  { unit: "src/TestUSDC.sol", name: "TestUSDC", code: "bytecode", file: "TestUSDC.bin", what: "creation code" },
  { unit: "src/Multicall3.sol", name: "Multicall3", code: "deployedBytecode", file: "Multicall3.runtime.bin", what: "runtime code" },
  { unit: "src/x402BatchSettlement.sol", name: "x402BatchSettlement", code: "deployedBytecode", file: "x402BatchSettlement.runtime.bin", what: "runtime code" },
  { unit: "src/ERC3009DepositCollector.sol", name: "ERC3009DepositCollector", code: "deployedBytecode", file: "ERC3009DepositCollector.runtime.bin", what: "runtime code" },
  { unit: "src/Permit2.sol", name: "Permit2", code: "deployedBytecode", file: "Permit2.runtime.bin", what: "runtime code" },
  { unit: "src/x402ExactPermit2Proxy.sol", name: "x402ExactPermit2Proxy", code: "deployedBytecode", file: "x402ExactPermit2Proxy.runtime.bin", what: "runtime code" },
  { unit: "src/x402UptoPermit2Proxy.sol", name: "x402UptoPermit2Proxy", code: "deployedBytecode", file: "x402UptoPermit2Proxy.runtime.bin", what: "runtime code" },
  { unit: "src/TestPermitToken.sol", name: "TestPermitToken", code: "bytecode", file: "TestPermitToken.bin", what: "creation code" },
  { unit: "src/SmartWallet.sol", name: "SmartWallet", code: "bytecode", file: "SmartWallet.bin", what: "creation code" },
  { unit: "src/SmartWalletFactory.sol", name: "SmartWalletFactory", code: "deployedBytecode", file: "SmartWalletFactory.runtime.bin", what: "runtime code" },
];

const expectedCompiler = "0.8.30";
if (!solc.version().startsWith(expectedCompiler + "+")) {
  fail(`solc ${solc.version()} loaded, want ${expectedCompiler}; run npm ci`);
}

const sources = {};
for (const name of fs.readdirSync(srcDir).sort()) {
  if (name.endsWith(".sol")) {
    sources[`src/${name}`] = { content: fs.readFileSync(path.join(srcDir, name), "utf8") };
  }
}

const outputSelection = {};
for (const { unit, name, code } of targets) {
  outputSelection[unit] = { [name]: ["abi", `evm.${code}.object`] };
}

const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection,
  },
};

// findImports serves imports that are not in `sources`: only files of the
// locked npm packages, never anything outside node_modules.
function findImports(importPath) {
  if (importPath.split("/").includes("..")) {
    return { error: `refusing import path ${importPath}` };
  }
  const file = importPath.startsWith("src/") ? path.join(here, importPath) : path.join(modulesDir, importPath);
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (err) {
    return { error: `import ${importPath}: ${err.message}` };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));

let failed = false;
for (const e of output.errors ?? []) {
  process.stderr.write(e.formattedMessage ?? e.message);
  if (e.severity === "error") failed = true;
}
if (failed) fail("compilation failed");

fs.mkdirSync(outDir, { recursive: true });
for (const { unit, name, code, file, what } of targets) {
  const c = output.contracts?.[unit]?.[name];
  if (!c) fail(`no output for ${unit}:${name}`);
  const bin = c.evm?.[code]?.object;
  if (!/^[0-9a-f]+$/.test(bin ?? "")) fail(`${name}: ${what} is empty or has unlinked libraries`);
  fs.writeFileSync(path.join(outDir, `${name}.abi.json`), JSON.stringify(c.abi, null, 2) + "\n");
  fs.writeFileSync(path.join(outDir, file), bin + "\n");
  console.log(`${name}: ${bin.length / 2} bytes of ${what} -> ${path.relative(process.cwd(), outDir) || "."}`);
}

function fail(msg) {
  process.stderr.write(`build.mjs: ${msg}\n`);
  process.exit(1);
}
