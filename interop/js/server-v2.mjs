// An official v2 resource server: express + @x402/express protecting GET /paid
// with an explicit price on eip155:<CHAIN_ID>, settled through the
// facilitator at FACILITATOR_URL. Logs "Server listening <port>".
// Optional: ASSET_TRANSFER_METHOD (see common.mjs price) and DECLARE_EIP2612=1.
import express from "express";
import { paymentMiddleware, x402ResourceServer } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { ExactEvmScheme } from "@x402/evm/exact/server";
import { declareEip2612GasSponsoringExtension, declarePaymentIdentifierExtension } from "@x402/extensions";
import { env, price, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
const network = `eip155:${env("CHAIN_ID")}`;
const facilitator = new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") });
const resourceServer = new x402ResourceServer(facilitator).register(network, new ExactEvmScheme());

const app = express();
let served = 0;
app.use(
  paymentMiddleware(
    {
      "GET /paid": {
        accepts: { scheme: "exact", network, payTo: env("PAY_TO"), price: price(), maxTimeoutSeconds: 60 },
        description: "interop paid resource",
        mimeType: "application/json",
        // DECLARE_EIP2612=1: the 402 declares EIP-2612 gas sponsoring
        // (Permit2 assets), as the official extension helper writes it.
        // DECLARE_PAYMENT_ID=1: it declares payment-identifier, required.
        ...(process.env.DECLARE_EIP2612 === "1" ? { extensions: declareEip2612GasSponsoringExtension() } : {}),
        ...(process.env.DECLARE_PAYMENT_ID === "1" ? { extensions: { "payment-identifier": declarePaymentIdentifierExtension(true) } } : {}),
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
