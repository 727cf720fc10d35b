// The official v2 facilitator (x402Facilitator + @x402/evm exact) on the
// devnet, served over HTTP: POST /verify, POST /settle, GET /supported.
// Logs "Facilitator listening <port>".
//
// Optional: UPTO=1 also registers the @x402/evm upto scheme;
// POLL_MS is the receipt polling interval (default 50);
// EXIT_ON_STDIN_EOF=1 exits when stdin closes, so the process never outlives
// a parent that holds the other end of the pipe (go402 bench).
import express from "express";
import { x402Facilitator } from "@x402/core/facilitator";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { UptoEvmScheme } from "@x402/evm/upto/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { createWalletClient, http, publicActions } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, listening, exitOnSignal } from "./common.mjs";

exitOnSignal();
if (process.env.EXIT_ON_STDIN_EOF === "1") {
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  process.stdin.resume();
}
const pollingInterval = Number(env("POLL_MS", "50"));
const chain = devnetChain();
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

const facilitator = new x402Facilitator();
registerExactEvmScheme(facilitator, { signer, networks: `eip155:${chain.id}` });
if (process.env.UPTO === "1") facilitator.register(`eip155:${chain.id}`, new UptoEvmScheme(signer));

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
