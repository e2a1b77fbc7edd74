// The `route` label of the proxied-request counter comes from the endpoint table only: made-up paths (any
// key of any role may send them) used to become a label each, and the series with them grew without bound.
import { afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LABELS } from "../../src/core/proxy/endpoints.ts";
import { type Harness, KEY, startHarness, tempDir } from "../helpers.ts";

const INFERENCE = "inference-key-0123456789";

let h: Harness | undefined;
let cleanup = () => {};
afterEach(async () => {
  await h?.close();
  h = undefined;
  cleanup();
});

/** 2,000+ paths Ollama does not serve, the way a fuzzer writes them. */
function madeUpPaths(): string[] {
  const word = (i: number, len: number) => Array.from({ length: len }, (_, k) => String.fromCharCode(97 + ((i * 7 + k * 13) % 26))).join("");
  const paths: string[] = [];
  for (let i = 0; i < 600; i++) paths.push(`/api/${word(i, 4 + (i % 9))}`);
  for (let i = 0; i < 600; i++) paths.push(`/api/${word(i, 4)}/${word(i + 3, 2 + (i % 5))}`);
  for (let i = 0; i < 500; i++) paths.push(`/v1/${word(i, 3 + (i % 7))}/${word(i + 1, 3)}`);
  for (let i = 0; i < 200; i++) paths.push(`/machines/default/api/${word(i, 6)}x${i}`);
  for (let i = 0; i < 150; i++) paths.push(`/api/blobs/sha256:${word(i, 12)}${i}`); // real endpoint, made-up digests
  return paths;
}

test("2,000 made-up paths from an inference key add no label: the series stay within the table's labels", async () => {
  const dir = tempDir();
  cleanup = dir.cleanup;
  writeFileSync(join(dir.dir, "keys.yaml"), `keys:\n  - { name: chat, key: ${INFERENCE}, role: inference }\n`);
  h = await startHarness({ on: true, env: { KEYS_FILE: join(dir.dir, "keys.yaml") } });
  const paths = madeUpPaths();
  expect(paths.length).toBeGreaterThanOrEqual(2000);
  const statuses = new Map<number, number>();
  for (let i = 0; i < paths.length; i += 50) {
    await Promise.all(
      paths.slice(i, i + 50).map(async (path) => {
        const res = await fetch(h!.url + path, { method: i % 100 === 0 ? "POST" : "GET", headers: { "x-api-key": INFERENCE } });
        await res.body?.cancel();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      }),
    );
  }
  // Forwarded (Ollama's 404), or refused (blobs are not an inference key's): never a 5xx.
  expect([...statuses.keys()].every((s) => s < 500)).toBe(true);
  const metrics = await (await fetch(`${h.url}/metrics`, { headers: { "x-api-key": KEY } })).text();
  const series = metrics.split("\n").filter((l) => l.startsWith("ollama_gate_proxied_requests_total{"));
  const routes = new Set(series.map((l) => /route="([^"]*)"/.exec(l)?.[1]));
  expect(series.length).toBeGreaterThan(0);
  expect(series.length).toBeLessThanOrEqual(LABELS.length);
  for (const route of routes) expect(LABELS).toContain(route!);
  for (const path of paths.filter((_, i) => i % 40 === 0)) expect(metrics).not.toContain(path.replace("/machines/default", ""));
});
