// Pays URL COUNT times with the official batch-settlement client
// (@x402/fetch + BatchSettlementEvmScheme from @x402/evm/batch-settlement)
// and prints one JSON line {ok, statuses, bodies, paymentResponses, errors,
// deposits, vouchers}; exit 0 iff every call returned 200.
//
// ACTION=refund instead asks the server for a cooperative refund of the
// channel behind URL (optional REFUND_AMOUNT) and prints {ok, refund}.
//
// Channel state lives in files under STORAGE_DIR (FileClientChannelStorage),
// so a test can delete it between runs. DEPOSIT fixes the deposit amount
// (atomic units); without it the client's default policy applies.
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { decodePaymentRequiredHeader } from "@x402/core/http";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/client";
import { FileClientChannelStorage } from "@x402/evm/batch-settlement/client/file-storage";
import { toClientEvmSigner } from "@x402/evm";
import { createPublicClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, printResult } from "./common.mjs";

function newScheme(signer) {
  const options = { storage: new FileClientChannelStorage({ directory: env("STORAGE_DIR") }) };
  const deposit = process.env.DEPOSIT;
  if (deposit) options.depositStrategy = (ctx) => (BigInt(deposit) >= BigInt(ctx.minimumDepositAmount) ? deposit : undefined);
  if (process.env.SALT) options.salt = process.env.SALT;
  return new BatchSettlementEvmScheme(signer, options);
}

async function pay(scheme, chainId) {
  const client = new x402Client();
  // Count what the scheme sends: one deposit, then vouchers.
  const counts = { deposit: 0, voucher: 0 };
  const create = scheme.createPaymentPayload.bind(scheme);
  scheme.createPaymentPayload = async (...args) => {
    const r = await create(...args);
    counts[r.payload.type] = (counts[r.payload.type] ?? 0) + 1;
    return r;
  };
  client.register(`eip155:${chainId}`, scheme);
  client.setSpendControls({
    allowedAssets: [{ network: `eip155:${chainId}`, asset: env("ASSET"), maxAmountPerPayment: env("MAX_AMOUNT", "1000000") }],
  });
  const fetchPaid = wrapFetchWithPayment(fetch, client);
  const n = Number(env("COUNT", "1"));
  const out = { statuses: [], bodies: [], paymentResponses: [], errors: [] };
  for (let i = 0; i < n; i++) {
    try {
      const res = await fetchPaid(env("URL"), { method: env("METHOD", "GET") });
      out.statuses.push(res.status);
      out.bodies.push(await res.text());
      const header = res.headers.get("PAYMENT-RESPONSE");
      out.paymentResponses.push(header ? decodePaymentResponseHeader(header) : null);
      const required = res.status === 402 ? res.headers.get("PAYMENT-REQUIRED") : null;
      out.errors.push(required ? `402: ${decodePaymentRequiredHeader(required).error ?? "no error field"}` : null);
    } catch (err) {
      out.statuses.push(0);
      out.bodies.push("");
      out.paymentResponses.push(null);
      out.errors.push(String(err && err.stack ? err.stack : err));
    }
  }
  const ok = out.statuses.length === n && out.statuses.every((s) => s === 200);
  return { ok, ...out, deposits: counts.deposit, vouchers: counts.voucher };
}

async function main() {
  const chain = devnetChain();
  const account = privateKeyToAccount(env("PRIVATE_KEY"));
  const publicClient = createPublicClient({ chain, transport: http(env("RPC_URL")) });
  const signer = toClientEvmSigner(account, publicClient);
  const scheme = newScheme(signer);
  let result;
  if (env("ACTION", "pay") === "refund") {
    const amount = process.env.REFUND_AMOUNT;
    const refund = await scheme.refund(env("URL"), amount ? { amount } : undefined);
    result = { ok: refund.success === true, refund };
  } else {
    result = await pay(scheme, chain.id);
  }
  printResult(result);
  process.exit(result.ok ? 0 : 1);
}

main().catch((err) => {
  printResult({ ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
