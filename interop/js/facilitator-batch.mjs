// The official facilitator with the @x402/evm batch-settlement scheme (and
// exact) on the devnet, served over HTTP: POST /verify, POST /settle,
// GET /supported. PRIVATE_KEY is the settlement key; AUTHORIZER_KEY, when
// set, is the receiver authorizer it advertises in /supported
// (extra.receiverAuthorizer) and signs claims and refunds with for servers
// that delegate the role. Logs "Facilitator listening <port>".
import express from "express";
import { x402Facilitator } from "@x402/core/facilitator";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { BatchSettlementEvmScheme } from "@x402/evm/batch-settlement/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { createWalletClient, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
const pollingInterval = Number(env("POLL_MS", "50"));
const chain = devnetChain();
const network = `eip155:${chain.id}`;
const account = privateKeyToAccount(env("PRIVATE_KEY"));
const wallet = createWalletClient({ account, chain, transport: http(env("RPC_URL")) }).extend(publicActions);

const signer = toFacilitatorEvmSigner({
  address: account.address,
  readContract: (args) => wallet.readContract({ ...args, args: args.args ?? [] }),
  verifyTypedData: (args) => wallet.verifyTypedData(args),
  writeContract: (args) => wallet.writeContract({ ...args, args: args.args ?? [] }),
  sendTransaction: (args) => wallet.sendTransaction(args),
  waitForTransactionReceipt: (args) => wallet.waitForTransactionReceipt({ ...args, pollingInterval }),
  getCode: (args) => wallet.getCode(args),
});
const authorizer = process.env.AUTHORIZER_KEY ? privateKeyToAccount(process.env.AUTHORIZER_KEY) : undefined;

const facilitator = new x402Facilitator();
registerExactEvmScheme(facilitator, { signer, networks: network });
facilitator.register(network, new BatchSettlementEvmScheme(signer, authorizer));

const app = express();
app.use(express.json({ limit: "1mb" }));

function handle(op) {
  return async (req, res) => {
    const { paymentPayload, paymentRequirements } = req.body ?? {};
    if (!paymentPayload || !paymentRequirements) {
      res.status(400).json({ error: "Missing paymentPayload or paymentRequirements" });
      return;
    }
    try {
      res.json(await facilitator[op](paymentPayload, paymentRequirements));
    } catch (err) {
      res.status(500).json({ error: err instanceof Error ? err.message : String(err) });
    }
  };
}
app.post("/verify", handle("verify"));
app.post("/settle", handle("settle"));
app.get("/supported", (req, res) => res.json(facilitator.getSupported()));
app.get("/health", (req, res) => res.json({ status: "ok" }));

const server = app.listen(Number(env("PORT", "0")), "127.0.0.1", () => listening("Facilitator", server));
