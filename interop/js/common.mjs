// Shared helpers for the interop scripts: environment, the devnet chain as a
// viem chain object, and the one-line JSON output the Go harness reads.
import { defineChain } from "viem";

export function env(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") {
    if (fallback !== undefined) return fallback;
    throw new Error(`missing environment variable ${name}`);
  }
  return v;
}

// devnetChain describes the go402 devnet to viem. The official packages only
// know public chains; the devnet (31337, or 84532 posing as base-sepolia for
// the legacy v1 packages) is described here from CHAIN_ID and RPC_URL.
export function devnetChain() {
  const id = Number(env("CHAIN_ID"));
  const rpc = env("RPC_URL");
  return defineChain({
    id,
    name: `go402 devnet ${id}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpc] } },
  });
}

// price returns the explicit price of a protected route: an amount in atomic
// units of the devnet token with its EIP-712 domain (and, with
// ASSET_TRANSFER_METHOD set, its transfer method, such as "permit2").
export function price() {
  const extra = { name: env("TOKEN_NAME", "USDC"), version: env("TOKEN_VERSION", "2") };
  const method = process.env.ASSET_TRANSFER_METHOD;
  if (method) extra.assetTransferMethod = method;
  return { amount: env("PRICE_AMOUNT"), asset: env("ASSET"), extra };
}

export function printResult(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

export function listening(what, server) {
  const addr = server.address();
  process.stdout.write(`${what} listening ${addr.port}\n`);
}

// exitOnSignal makes the process exit promptly when the harness stops it.
export function exitOnSignal() {
  for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => process.exit(0));
}
