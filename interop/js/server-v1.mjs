// A legacy v1 resource server: express + x402-express 1.x protecting GET /paid
// on "base-sepolia" (the devnet as chain 84532) with an explicit token price,
// verified and settled by the facilitator at FACILITATOR_URL.
// Logs "Server listening <port>".
import express from "express";
import { paymentMiddleware } from "x402-express";
import { env, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
const app = express();
let served = 0;
app.use(
  paymentMiddleware(
    env("PAY_TO"),
    {
      "GET /paid": {
        price: {
          amount: env("PRICE_AMOUNT"),
          asset: {
            address: env("ASSET"),
            decimals: 6,
            eip712: { name: env("TOKEN_NAME", "USDC"), version: env("TOKEN_VERSION", "2") },
          },
        },
        network: env("NETWORK_V1", "base-sepolia"),
        config: { description: "interop paid resource", mimeType: "application/json", maxTimeoutSeconds: 60 },
      },
    },
    { url: env("FACILITATOR_URL") },
  ),
);
app.get("/paid", (req, res) => {
  served++;
  res.json({ paid: true, served });
});
app.get("/health", (req, res) => res.json({ status: "ok" }));

const server = app.listen(Number(env("PORT", "0")), "127.0.0.1", () => listening("Server", server));
