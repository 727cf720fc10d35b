// Cross-check of go402's batch-settlement EIP-712 hashing, signing, nonce and
// collectorData derivations against the official @x402/evm 2.27 code.
// Input (stdin): JSON from xcheck_test.go. Output (stdout): JSON.
// Usage: node xcheck.mjs <path of interop/node_modules>
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const nm = process.argv[2];
const esm = path.join(nm, "@x402/evm/dist/esm");
const load = (p) => import(pathToFileURL(p).href);

// The official helpers that the package does not export publicly live in
// hashed chunk files: find the chunk that defines a function (or a
// variable) by its name.
async function moduleDefining(fn, decl = `function ${fn}(`) {
  for (const f of fs.readdirSync(esm).sort()) {
    if (!f.endsWith(".mjs")) continue;
    if (fs.readFileSync(path.join(esm, f), "utf8").includes(decl)) {
      return load(path.join(esm, f));
    }
  }
  throw new Error(`no chunk defines ${fn}`);
}

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const viem = await load(path.join(nm, "viem/_esm/index.js"));
const accounts = await load(path.join(nm, "viem/_esm/accounts/index.js"));
const client = await load(path.join(esm, "batch-settlement/client/index.mjs"));
const consts = await moduleDefining("computeChannelId");
const authz = await moduleDefining("signClaimBatch");
const nonces = await moduleDefining("buildErc3009DepositNonce");
const guards = await moduleDefining("isBatchSettlementDepositPayload");
const { batchSettlementABI } = await moduleDefining("batchSettlementABI", "var batchSettlementABI =");

const account = accounts.privateKeyToAccount(input.key);
const network = `eip155:${input.chainId}`;
const domain = consts.getBatchSettlementEip712Domain(input.chainId);
const cfg = input.config;
const channelId = client.computeChannelId(cfg, network);

const voucher = await client.signVoucher(account, channelId, input.maxClaimable, network);
const voucherDigest = viem.hashTypedData({
  domain, types: consts.voucherTypes, primaryType: "Voucher",
  message: { channelId, maxClaimableAmount: BigInt(input.maxClaimable) },
});
const refundSig = await authz.signRefund(account, channelId, input.refundAmount, input.refundNonce, network);
const refundDigest = viem.hashTypedData({
  domain, types: consts.refundTypes, primaryType: "Refund",
  message: { channelId, nonce: BigInt(input.refundNonce), amount: BigInt(input.refundAmount) },
});
const claims = input.claims;
const claimSig = await authz.signClaimBatch(account, claims, network);
const claimDigest = viem.hashTypedData({
  domain, types: consts.claimBatchTypes, primaryType: "ClaimBatch",
  message: {
    claims: claims.map((c) => ({
      channelId: client.computeChannelId(c.voucher.channel, input.chainId),
      maxClaimableAmount: BigInt(c.voucher.maxClaimableAmount),
      totalClaimed: BigInt(c.totalClaimed),
    })),
  },
});
const depositNonce = nonces.buildErc3009DepositNonce(channelId, input.salt);
const collectorData = nonces.buildErc3009CollectorData(input.validAfter, input.validBefore, input.salt, input.depositSignature);

// The official client's deposit payload, with its own random salt and clock.
const requirements = {
  scheme: "batch-settlement", network, asset: cfg.token, payTo: cfg.receiver,
  amount: input.maxClaimable, maxTimeoutSeconds: 300,
  extra: { name: input.tokenName, version: input.tokenVersion, receiverAuthorizer: cfg.receiverAuthorizer, withdrawDelay: cfg.withdrawDelay },
};
const deposit = await client.createBatchSettlementEIP3009DepositPayload(
  account, 2, requirements, cfg, input.depositAmount, input.maxClaimable);

// The official client paying go402's 402 requirements (Server.Requirements):
// with no stored channel and no chain reads it signs a deposit.
const officialScheme = new client.BatchSettlementEvmScheme(account);
const fromGoRequirements = (await officialScheme.createPaymentPayload(2, input.goRequirements)).payload;

// The official server's 402 requirements, for go402's client-side parser.
const server = await load(path.join(esm, "batch-settlement/server/index.mjs"));
const officialServer = new server.BatchSettlementEvmScheme(cfg.receiver, { receiverAuthorizerSigner: account });
const officialRequirements = await officialServer.enhancePaymentRequirements(
  { ...requirements, amount: "10000" }, { x402Version: 2, scheme: "batch-settlement", network });

// go402's payloads through the official type guards and channel-id binding.
const go = input.goPayloads;
const guardResults = {
  deposit: guards.isBatchSettlementDepositPayload(go.deposit),
  voucher: guards.isBatchSettlementVoucherPayload(go.voucher),
  refund: guards.isBatchSettlementRefundPayload(go.refund),
  enrichedRefund: guards.isBatchSettlementEnrichedRefundPayload(go.enrichedRefund),
  claim: guards.isBatchSettlementClaimPayload(go.claim),
  settle: guards.isBatchSettlementSettlePayload(go.settle),
  depositBinding: consts.channelIdBindingError(go.deposit.channelConfig, go.deposit.voucher.channelId, network) ?? "",
};

// The calldata the official facilitator builds for go402's payloads.
const contractConfig = (c) => ({ ...c, payer: viem.getAddress(c.payer), payerAuthorizer: viem.getAddress(c.payerAuthorizer),
  receiver: viem.getAddress(c.receiver), receiverAuthorizer: viem.getAddress(c.receiverAuthorizer), token: viem.getAddress(c.token) });
const claimArgs = (cs) => cs.map((c) => ({
  voucher: { channel: contractConfig(c.voucher.channel), maxClaimableAmount: BigInt(c.voucher.maxClaimableAmount) },
  signature: c.signature, totalClaimed: BigInt(c.totalClaimed),
}));
const encode = (functionName, args) => viem.encodeFunctionData({ abi: batchSettlementABI, functionName, args });
const gd = go.deposit, ga = gd.deposit.authorization.erc3009Authorization, gr = go.enrichedRefund;
const claimCall = encode("claimWithSignature", [claimArgs(go.claim.claims), go.claim.claimAuthorizerSignature]);
const refundCall = encode("refundWithSignature", [contractConfig(gr.channelConfig), BigInt(gr.amount), BigInt(gr.refundNonce), gr.refundAuthorizerSignature]);
const calldata = {
  deposit: encode("deposit", [contractConfig(gd.channelConfig), BigInt(gd.deposit.amount), viem.getAddress(consts.ERC3009_DEPOSIT_COLLECTOR_ADDRESS),
    nonces.buildErc3009CollectorData(ga.validAfter, ga.validBefore, ga.salt, ga.signature)]),
  claimWithSignature: claimCall,
  refundWithSignature: refundCall,
  settle: encode("settle", [viem.getAddress(go.settle.receiver), viem.getAddress(go.settle.token)]),
  multicall: encode("multicall", [[claimCall, refundCall]]),
  channels: encode("channels", [channelId]),
};

process.stdout.write(JSON.stringify({
  calldata, fromGoRequirements, officialRequirements,
  address: account.address, channelId, voucher, voucherDigest, refundSig, refundDigest,
  claimSig, claimDigest, depositNonce, collectorData, deposit: deposit.payload, guardResults,
}));
