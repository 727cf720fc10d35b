// An official v2 resource server charging what was used: express +
// @x402/express with the @x402/evm upto scheme protecting GET /upto at a
// maximum of PRICE_AMOUNT atoms of ASSET, settled through the facilitator at
// FACILITATOR_URL. The handler reports USED_AMOUNT as the amount to settle
// (setSettlementOverrides). SPONSOR=1 declares the eip2612GasSponsoring
// extension in the 402. Logs "Server listening <port>".
import express from "express";
import { paymentMiddleware, x402ResourceServer, setSettlementOverrides } from "@x402/express";
import { HTTPFacilitatorClient } from "@x402/core/server";
import { UptoEvmScheme } from "@x402/evm/upto/server";
import { declareEip2612GasSponsoringExtension } from "@x402/extensions";
import { env, price, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
const network = `eip155:${env("CHAIN_ID")}`;
const facilitator = new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") });
const resourceServer = new x402ResourceServer(facilitator).register(network, new UptoEvmScheme());

const app = express();
let served = 0;
app.use(
  paymentMiddleware(
    {
      "GET /upto": {
        accepts: { scheme: "upto", network, payTo: env("PAY_TO"), price: price(), maxTimeoutSeconds: 60 },
        description: "interop metered resource",
        mimeType: "application/json",
        ...(process.env.SPONSOR === "1" ? { extensions: declareEip2612GasSponsoringExtension() } : {}),
      },
    },
    resourceServer,
  ),
);
app.get("/upto", (req, res) => {
  served++;
  setSettlementOverrides(res, { amount: env("USED_AMOUNT") });
  res.json({ paid: true, served });
});
app.get("/health", (req, res) => res.json({ status: "ok" }));

const server = app.listen(Number(env("PORT", "0")), "127.0.0.1", () => listening("Server", server));
