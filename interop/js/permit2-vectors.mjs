// Prints (one JSON object on stdout) test vectors computed by the official
// packages (viem 2.57 and @x402/evm 2.27) for go402's evm/permit2 golden
// test: Permit2 EIP-712 digests and signatures for the exact and upto
// witnesses, an EIP-2612 permit digest, the proxies' settle and
// settleWithPermit calldata, and one payload made by each official Permit2
// client. Regenerate evm/permit2/testdata/vectors.json with
//   cd interop && node js/permit2-vectors.mjs > ../evm/permit2/testdata/vectors.json
// (TestPermit2VectorsAreCurrent in ./interop checks the file is current).
import {
  permit2WitnessTypes,
  uptoPermit2WitnessTypes,
  x402ExactPermit2ProxyABI,
  x402UptoPermit2ProxyABI,
  x402ExactPermit2ProxyAddress,
  x402UptoPermit2ProxyAddress,
} from "@x402/evm";
import { ExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { encodeFunctionData, hashTypedData, parseSignature } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3";
// A fixed test key (never funded anywhere): the signatures are deterministic (RFC 6979).
const KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const account = privateKeyToAccount(KEY);
const chainId = 84532;
const token = "0x036CbD53842c5426634e7929541eC2318f3dCF7e";
const payTo = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";
const facilitator = "0x1111111111111111111111111111111111111111";

const common = {
  permitted: { token, amount: 1234567n },
  nonce: 0xdeadbeefcafebabe0123456789abcdef00112233445566778899aabbccddeeffn,
  deadline: 1893456000n,
};
const domain = { name: "Permit2", chainId, verifyingContract: PERMIT2 };

async function permitVector(kind, types, spender, witness) {
  const message = { ...common, spender, witness };
  const typed = { domain, types, primaryType: "PermitWitnessTransferFrom", message };
  return { kind, spender, witness, digest: hashTypedData(typed), signature: await account.signTypedData(typed) };
}

async function main() {
  const exact = await permitVector("exact", permit2WitnessTypes, x402ExactPermit2ProxyAddress, { to: payTo, validAfter: 0n });
  const upto = await permitVector("upto", uptoPermit2WitnessTypes, x402UptoPermit2ProxyAddress, { to: payTo, facilitator, validAfter: 1700000000n });

  const permit2612 = {
    domain: { name: "USDC", version: "2", chainId, verifyingContract: token },
    types: {
      Permit: [
        { name: "owner", type: "address" },
        { name: "spender", type: "address" },
        { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Permit",
    message: { owner: account.address, spender: PERMIT2, value: 1234567n, nonce: 3n, deadline: 1893456000n },
  };
  const sig2612 = await account.signTypedData(permit2612);
  const { r, s, v } = parseSignature(sig2612);
  const p2612 = { value: 1234567n, deadline: 1893456000n, r, s, v: Number(v) };

  const permitArg = { permitted: common.permitted, nonce: common.nonce, deadline: common.deadline };
  const calldata = {
    exactSettle: encodeFunctionData({ abi: x402ExactPermit2ProxyABI, functionName: "settle", args: [permitArg, account.address, exact.witness, exact.signature] }),
    exactSettleWithPermit: encodeFunctionData({ abi: x402ExactPermit2ProxyABI, functionName: "settleWithPermit", args: [p2612, permitArg, account.address, exact.witness, exact.signature] }),
    uptoSettle: encodeFunctionData({ abi: x402UptoPermit2ProxyABI, functionName: "settle", args: [permitArg, 1000n, account.address, upto.witness, upto.signature] }),
    uptoSettleWithPermit: encodeFunctionData({ abi: x402UptoPermit2ProxyABI, functionName: "settleWithPermit", args: [p2612, permitArg, 1000n, account.address, upto.witness, upto.signature] }),
  };

  // One payload from each official client (random nonce, time-based deadline).
  const requirements = {
    scheme: "exact", network: `eip155:${chainId}`, amount: "1234567", asset: token, payTo, maxTimeoutSeconds: 300,
    extra: { name: "USDC", version: "2", assetTransferMethod: "permit2" },
  };
  const exactPayload = (await new ExactEvmScheme(account).createPaymentPayload(2, requirements)).payload;
  const uptoReq = { ...requirements, scheme: "upto", extra: { name: "USDC", version: "2", facilitatorAddress: facilitator } };
  const uptoPayload = (await new UptoEvmScheme(account).createPaymentPayload(2, uptoReq)).payload;

  const str = (_, val) => (typeof val === "bigint" ? val.toString() : val);
  const out = {
    owner: account.address, chainId, token, payTo, facilitator,
    amount: "1234567", nonce: common.nonce.toString(), deadline: common.deadline.toString(),
    exact, upto,
    eip2612: { digest: hashTypedData(permit2612), signature: sig2612, nonce: "3", value: "1234567", deadline: "1893456000" },
    calldata, exactPayload, uptoPayload,
  };
  process.stdout.write(JSON.stringify(out, str, 2) + "\n");
}

main().catch((e) => { console.error(e); process.exit(1); });
