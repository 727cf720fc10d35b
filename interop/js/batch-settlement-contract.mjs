// Asks the official batch-settlement client (@x402/evm) for one payment
// payload against the go402 devnet, and computes with the official EIP-712
// types the digests go402's x402BatchSettlement must reproduce. Prints one
// JSON line {ok, payload, digests, verify}; exit 0 iff ok.
//
// The client reads channels(channelId) on the devnet's x402BatchSettlement
// first: with no balance it returns a deposit payload (ERC-3009
// ReceiveWithAuthorization to the ERC3009DepositCollector plus a voucher),
// with a balance a voucher-only payload. The official batch-settlement
// facilitator (key FACILITATOR_KEY) then verifies the payload: it reads the
// channel through Multicall3.tryAggregate (channels, pendingWithdrawals,
// refundNonce) and, for a deposit, checks the ERC-3009 authorization.
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/client";
import { BatchSettlementEvmScheme as FacilitatorScheme } from "@x402/evm/batch-settlement/facilitator";
import {
  toClientEvmSigner,
  toFacilitatorEvmSigner,
  voucherTypes,
  refundTypes,
  claimBatchTypes,
  BATCH_SETTLEMENT_ADDRESS,
} from "@x402/evm";
import { createPublicClient, createWalletClient, http, hashTypedData, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, printResult } from "./common.mjs";

async function main() {
  const chain = devnetChain();
  const account = privateKeyToAccount(env("PRIVATE_KEY"));
  const publicClient = createPublicClient({ chain, transport: http(env("RPC_URL")) });
  const scheme = new BatchSettlementEvmScheme(toClientEvmSigner(account, publicClient));
  const requirements = {
    scheme: "batch-settlement",
    network: `eip155:${chain.id}`,
    asset: env("ASSET"),
    amount: env("PRICE_AMOUNT"),
    payTo: env("RECEIVER"),
    maxTimeoutSeconds: 300,
    extra: {
      name: env("TOKEN_NAME"),
      version: env("TOKEN_VERSION"),
      receiverAuthorizer: env("RECEIVER_AUTHORIZER"),
      withdrawDelay: 900,
    },
  };
  const { payload } = await scheme.createPaymentPayload(2, requirements);

  const domain = { name: "x402 Batch Settlement", version: "1", chainId: chain.id, verifyingContract: BATCH_SETTLEMENT_ADDRESS };
  const channelId = payload.voucher.channelId;
  const max = BigInt(payload.voucher.maxClaimableAmount);
  const digests = {
    voucher: hashTypedData({ domain, types: voucherTypes, primaryType: "Voucher", message: { channelId, maxClaimableAmount: max } }),
    refund: hashTypedData({ domain, types: refundTypes, primaryType: "Refund", message: { channelId, nonce: 7n, amount: 5n } }),
    claimBatch: hashTypedData({
      domain,
      types: claimBatchTypes,
      primaryType: "ClaimBatch",
      message: { claims: [{ channelId, maxClaimableAmount: max, totalClaimed: max - 1n }] },
    }),
  };
  const facAccount = privateKeyToAccount(env("FACILITATOR_KEY"));
  const wallet = createWalletClient({ account: facAccount, chain, transport: http(env("RPC_URL")) }).extend(publicActions);
  const facSigner = toFacilitatorEvmSigner({
    address: facAccount.address,
    readContract: (args) => wallet.readContract({ ...args, args: args.args ?? [] }),
    verifyTypedData: (args) => wallet.verifyTypedData(args),
    writeContract: (args) => wallet.writeContract({ ...args, args: args.args ?? [] }),
    sendTransaction: (args) => wallet.sendTransaction(args),
    waitForTransactionReceipt: (args) => wallet.waitForTransactionReceipt(args),
    getCode: (args) => wallet.getCode(args),
  });
  const facilitator = new FacilitatorScheme(facSigner);
  const verify = await facilitator.verify({ x402Version: 2, accepted: requirements, payload }, requirements);
  printResult({ ok: true, payload, digests, verify });
}

main().catch((err) => {
  printResult({ ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
