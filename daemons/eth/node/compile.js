// Compile contracts/TestToken.sol with the pinned solc-js (package.json) and print {abi, bytecode, compiler}
// as JSON on stdout. Deterministic: same source + same solc version + these settings = same bytecode.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "contracts", "TestToken.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "TestToken.sol": { content: source } },
  settings: {
    // ganache 7.9.2 runs up to the "shanghai" hardfork; paris keeps PUSH0/MCOPY out of the bytecode.
    evmVersion: "paris",
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};

function findImports(importPath) {
  const file = path.join(__dirname, "node_modules", importPath);
  if (!file.startsWith(path.join(__dirname, "node_modules") + path.sep)) return { error: "outside node_modules" };
  try {
    return { contents: fs.readFileSync(file, "utf8") };
  } catch (err) {
    return { error: String(err) };
  }
}

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  process.stderr.write(errors.map((e) => e.formattedMessage).join("\n"));
  process.exit(1);
}
const contract = output.contracts["TestToken.sol"].TestToken;
process.stdout.write(
  JSON.stringify({ abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object, compiler: solc.version() }),
);
