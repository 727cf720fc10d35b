// Reads a facilitator's GET /discovery/resources with the official bazaar
// client (@x402/extensions withBazaar over @x402/core's
// HTTPFacilitatorClient), and checks each item's bazaar extension with the
// official validators (JSON Schema of info, and the spec's rules). Prints
// one JSON line {ok, pages, items, errors}.
import { HTTPFacilitatorClient } from "@x402/core/server";
import { withBazaar, validateDiscoveryExtension, validateDiscoveryExtensionSpec } from "@x402/extensions/bazaar";
import { env, printResult } from "./common.mjs";

async function main() {
  const client = withBazaar(new HTTPFacilitatorClient({ url: env("FACILITATOR_URL") }));
  const type = process.env.TYPE || undefined;
  const limit = Number(env("LIMIT", "1"));
  const items = [];
  const pages = [];
  const errors = [];
  for (let offset = 0; ; offset += limit) {
    const page = await client.extensions.bazaar.listResources({ type, limit, offset });
    pages.push(page.pagination);
    for (const it of page.items) {
      items.push(it);
      const ext = it.extensions && it.extensions.bazaar;
      if (!ext) {
        errors.push(`${it.resource}: no bazaar extension`);
        continue;
      }
      const v = validateDiscoveryExtension(ext);
      if (!v.valid) errors.push(`${it.resource}: info does not validate: ${JSON.stringify(v.errors)}`);
      const s = validateDiscoveryExtensionSpec(ext);
      if (!s.valid) errors.push(`${it.resource}: not per the spec: ${JSON.stringify(s.errors)}`);
    }
    if (page.items.length === 0 || offset + page.items.length >= page.pagination.total) break;
  }
  const ok = errors.length === 0;
  printResult({ ok, pages, items, errors });
  process.exit(ok ? 0 : 1);
}

main().catch((err) => {
  printResult({ ok: false, errors: [String(err && err.stack ? err.stack : err)] });
  process.exit(1);
});
