// Cross-check of go402's Permit2 and x402 Permit2 proxies against the
// official @x402/evm 2.27 package: prints the official proxy ABIs and settle
// calldata for an exact and an upto payment, signed with viem and the
// official EIP-712 types, domain and addresses, for the Go test to send to
// the devnet.
// Input (stdin): JSON from permit2_official_test.go. Output (stdout): JSON.
// Usage: node permit2_official.mjs <path of interop/node_modules>
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const nm = process.argv[2];
const load = (p) => import(pathToFileURL(p).href);
const evm = await load(path.join(nm, "@x402/evm/dist/esm/index.mjs"));
const viem = await load(path.join(nm, "viem/_esm/index.js"));
const accounts = await load(path.join(nm, "viem/_esm/accounts/index.js"));

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const account = accounts.privateKeyToAccount(input.key);
const domain = { name: "Permit2", chainId: input.chainId, verifyingContract: evm.PERMIT2_ADDRESS };

async function payment(kind) {
  const exact = kind === "exact";
  const permit = {
    permitted: { token: input.token, amount: BigInt(input.amount) },
    nonce: BigInt(input.nonces[kind]),
    deadline: BigInt(input.deadline),
  };
  const witness = exact
    ? { to: input.payee, validAfter: 0n }
    : { to: input.payee, facilitator: input.facilitator, validAfter: 0n };
  const signature = await account.signTypedData({
    domain,
    types: exact ? evm.permit2WitnessTypes : evm.uptoPermit2WitnessTypes,
    primaryType: "PermitWitnessTransferFrom",
    message: {
      ...permit,
      spender: exact ? evm.x402ExactPermit2ProxyAddress : evm.x402UptoPermit2ProxyAddress,
      witness,
    },
  });
  const args = exact
    ? [permit, account.address, witness, signature]
    : [permit, BigInt(input.uptoAmount), account.address, witness, signature];
  return viem.encodeFunctionData({
    abi: exact ? evm.x402ExactPermit2ProxyABI : evm.x402UptoPermit2ProxyABI,
    functionName: "settle",
    args,
  });
}

process.stdout.write(JSON.stringify({
  address: account.address,
  permit2: evm.PERMIT2_ADDRESS,
  exactProxy: evm.x402ExactPermit2ProxyAddress,
  uptoProxy: evm.x402UptoPermit2ProxyAddress,
  exactABI: evm.x402ExactPermit2ProxyABI,
  uptoABI: evm.x402UptoPermit2ProxyABI,
  exactSettle: await payment("exact"),
  uptoSettle: await payment("upto"),
}));
