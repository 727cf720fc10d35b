// Pays URL with the official upto client (@x402/fetch + @x402/evm upto) and
// prints one JSON line {ok, status, body, paymentResponse}; exit 0 iff ok.
// The payer must have approved Permit2 for ASSET (the client never does).
import { wrapFetchWithPayment, x402Client, decodePaymentResponseHeader } from "@x402/fetch";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { toClientEvmSigner } from "@x402/evm";
import { createPublicClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, printResult } from "./common.mjs";

async function main() {
  const chain = devnetChain();
  const account = privateKeyToAccount(env("PRIVATE_KEY"));
  const publicClient = createPublicClient({ chain, transport: http(env("RPC_URL")) });
  const signer = toClientEvmSigner(account, publicClient);
  const client = new x402Client();
  client.register(`eip155:${chain.id}`, new UptoEvmScheme(signer));
  client.setSpendControls({
    allowedAssets: [{ network: `eip155:${chain.id}`, asset: env("ASSET"), maxAmountPerPayment: env("MAX_AMOUNT", "100000") }],
  });
  const pay = wrapFetchWithPayment(fetch, client);
  const res = await pay(env("URL"), { method: env("METHOD", "GET") });
  const body = await res.text();
  let paymentResponse = null;
  const header = res.headers.get("PAYMENT-RESPONSE");
  if (header) paymentResponse = decodePaymentResponseHeader(header);
  const ok = res.status === 200;
  printResult({ ok, status: res.status, body, paymentResponse });
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  printResult({ ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
