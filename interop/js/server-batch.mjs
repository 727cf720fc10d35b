// An official batch-settlement resource server: express + @x402/express with
// BatchSettlementEvmScheme (@x402/evm/batch-settlement/server) protecting
// GET /paid on eip155:<CHAIN_ID>, using the facilitator at FACILITATOR_URL.
// Logs "Server listening <port>".
//
// The receiver authorizer is delegated to the facilitator (its /supported
// extra.receiverAuthorizer) unless RECEIVER_AUTHORIZER_KEY gives a local key.
// Channel state lives under STORAGE_DIR (FileChannelStorage) when set, in
// memory otherwise. WITHDRAW_DELAY sets extra.withdrawDelay (default 900).
//
// POST /admin/claim-settle makes the channel manager claim every outstanding
// voucher and settle the claimed amount to PAY_TO at once; it answers the
// manager's results as JSON. SIGUSR2 does the same, logging the results.
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/server";
import { FileChannelStorage } from "@x402/evm/batch-settlement/server/file-storage";
import { privateKeyToAccount } from "viem/accounts";
import { env, price, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
const network = `eip155:${env("CHAIN_ID")}`;
const payTo = env("PAY_TO");
const facilitator = new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") });

const config = { withdrawDelay: Number(env("WITHDRAW_DELAY", "900")) };
if (process.env.STORAGE_DIR) config.storage = new FileChannelStorage({ directory: process.env.STORAGE_DIR });
if (process.env.RECEIVER_AUTHORIZER_KEY) config.receiverAuthorizerSigner = privateKeyToAccount(process.env.RECEIVER_AUTHORIZER_KEY);
const scheme = new BatchSettlementEvmScheme(payTo, config);
const resourceServer = new x402ResourceServer(facilitator).register(network, scheme);
const manager = scheme.createChannelManager(facilitator, network, env("ASSET"));

async function claimAndSettle() {
  const r = await manager.claimAndSettle();
  return { claims: r.claims, settle: r.settle ?? null };
}

const app = express();
let served = 0;
app.post("/admin/claim-settle", async (req, res) => {
  try {
    res.json({ ok: true, ...(await claimAndSettle()) });
  } catch (err) {
    res.status(500).json({ ok: false, error: err instanceof Error ? err.message : String(err) });
  }
});
process.on("SIGUSR2", () => {
  claimAndSettle().then(
    (r) => process.stdout.write(`claim-settle ${JSON.stringify(r)}\n`),
    (err) => process.stdout.write(`claim-settle error ${String(err)}\n`),
  );
});
app.use(
  paymentMiddleware(
    {
      "GET /paid": {
        accepts: { scheme: "batch-settlement", network, payTo, price: price(), maxTimeoutSeconds: 60 },
        description: "interop batch-settlement resource",
        mimeType: "application/json",
      },
    },
    resourceServer,
  ),
);
app.get("/paid", (req, res) => {
  served++;
  res.json({ paid: true, served });
});
app.get("/health", (req, res) => res.json({ status: "ok" }));

const server = app.listen(Number(env("PORT", "0")), "127.0.0.1", () => listening("Server", server));
