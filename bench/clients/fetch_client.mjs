// Node's built-in fetch (undici, keep-alive): URL COUNT [POST_FILE] -> seconds per request
import { readFileSync } from "node:fs";
const [url, countText, post] = process.argv.slice(2);
const count = Number(countText);
const body = post ? readFileSync(post) : undefined;
async function once() {
  const r = body
    ? await fetch(url, { method: "POST", body, headers: { "content-type": "application/json" } })
    : await fetch(url, { headers: { accept: "application/json" } });
  if (!r.ok) throw new Error(String(r.status));
  if (body) await r.text(); else await r.json();
}
await once();
const t0 = performance.now();
for (let i = 0; i < count; i++) await once();
console.log((performance.now() - t0) / 1000 / count);
