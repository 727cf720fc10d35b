// Pays URL with the legacy v1 client (x402-fetch 1.x, X-PAYMENT) and prints
// one JSON line {ok, status, body, paymentResponse}; exit 0 iff ok. The
// legacy client knows networks by name: the devnet runs as chain 84532 and
// is paid as "base-sepolia".
import { wrapFetchWithPayment, decodeXPaymentResponse } from "x402-fetch";
import { createWalletClient, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, printResult } from "./common.mjs";

async function main() {
  const chain = devnetChain();
  const account = privateKeyToAccount(env("PRIVATE_KEY"));
  const wallet = createWalletClient({ account, chain, transport: http(env("RPC_URL")) }).extend(publicActions);
  const pay = wrapFetchWithPayment(fetch, wallet, BigInt(env("MAX_VALUE", "100000")));
  const res = await pay(env("URL"), { method: env("METHOD", "GET") });
  const body = await res.text();
  const header = res.headers.get("X-PAYMENT-RESPONSE");
  const paymentResponse = header ? decodeXPaymentResponse(header) : null;
  const ok = res.status === 200;
  printResult({ ok, status: res.status, body, paymentResponse });
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  printResult({ ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
