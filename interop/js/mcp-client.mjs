// Calls a paid MCP tool with the official TypeScript MCP SDK's client
// (@modelcontextprotocol/sdk Client over StreamableHTTPClientTransport),
// signing the payment with the official x402 client (@x402/core's x402Client
// and @x402/evm's exact EVM scheme), as the x402 MCP transport's tool-result
// binding describes:
//
//  1. call the tool without a payment: the result has isError true and the
//     PaymentRequired in structuredContent and, as JSON, in content[0].text;
//  2. create a PaymentPayload for it with x402Client.createPaymentPayload;
//  3. call the tool again with params._meta["x402/payment"] = the payload;
//  4. read the SettleResponse from result._meta["x402/payment-response"].
//
// The @x402 packages pinned here have no MCP helper, so the script drives
// the MCP client itself. It prints one JSON line
// {ok, unpaid, textMatchesStructured, result, paymentResponse, replay, payer} and
// exits 0 iff the flow ran to the end (ok); whether the tool succeeded and
// was charged is for the caller to judge.
import { isDeepStrictEqual } from "node:util";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { x402Client } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { toClientEvmSigner } from "@x402/evm";
import { createPublicClient, http } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { env, devnetChain, printResult } from "./common.mjs";

const META_PAYMENT = "x402/payment";
const META_PAYMENT_RESPONSE = "x402/payment-response";

// payer is an official x402 client paying from PRIVATE_KEY with the exact
// EVM scheme, allowed to spend the devnet token.
function payer() {
  const chain = devnetChain();
  const account = privateKeyToAccount(env("PRIVATE_KEY"));
  const publicClient = createPublicClient({ chain, transport: http(env("RPC_URL")) });
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: toClientEvmSigner(account, publicClient) });
  // The devnet token is not one of the packages' default assets.
  client.setSpendControls({
    allowedAssets: [{ network: `eip155:${chain.id}`, asset: env("ASSET"), maxAmountPerPayment: env("MAX_AMOUNT", "100000") }],
  });
  return { client, address: account.address };
}

// textOf is the first content's text, or undefined.
function textOf(result) {
  const c = result && Array.isArray(result.content) ? result.content[0] : undefined;
  return c && c.type === "text" ? c.text : undefined;
}

// sameJSON reports whether text is JSON equal to value.
function sameJSON(text, value) {
  if (typeof text !== "string") return false;
  try {
    return isDeepStrictEqual(JSON.parse(text), value);
  } catch {
    return false;
  }
}

async function main() {
  const pay = payer();
  const mcp = new Client({ name: "go402-interop-mcp-client", version: "1.0.0" });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(env("URL"))));
  try {
    const name = env("TOOL");
    const args = JSON.parse(env("ARGS", "{}"));

    const unpaid = await mcp.callTool({ name, arguments: args });
    const paymentRequired = unpaid.structuredContent;
    if (!unpaid.isError || !paymentRequired || !Array.isArray(paymentRequired.accepts)) {
      printResult({ ok: false, unpaid, error: "the unpaid call did not return a PaymentRequired" });
      process.exit(1);
    }
    const textMatchesStructured = sameJSON(textOf(unpaid), paymentRequired);

    const payload = await pay.client.createPaymentPayload(paymentRequired);
    const result = await mcp.callTool({ name, arguments: args, _meta: { [META_PAYMENT]: payload } });
    const paymentResponse = (result._meta && result._meta[META_PAYMENT_RESPONSE]) ?? null;
    // With REPLAY set, the same signed payload is sent once more.
    let replay = null;
    if (process.env.REPLAY) replay = await mcp.callTool({ name, arguments: args, _meta: { [META_PAYMENT]: payload } });
    printResult({ ok: true, unpaid, textMatchesStructured, result, paymentResponse, replay, payer: pay.address });
  } finally {
    await mcp.close();
  }
  process.exit(0);
}

main().catch((err) => {
  printResult({ ok: false, error: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
