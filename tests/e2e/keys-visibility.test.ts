// What a scoped key sees: every read is kept to the machines and models it may use, as /machines/{name}
// already decides — no list, count or answer from a machine outside its scope.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type FleetHarness, json, startFleetHarness, tempDir } from "../helpers.ts";

const SMALL_ONLY = "small-only-0123456789";
const QWEN_ONLY = "qwen-only-0123456789";
const KEYS = `keys:
  - { name: small-only, key: ${SMALL_ONLY}, role: user, machines: [small] }
  - { name: qwen-only, key: ${QWEN_ONLY}, role: user, models: ["qwen*"] }
`;

let h: FleetHarness | undefined;
let cleanup = () => {};
afterEach(async () => {
  await h?.close();
  h = undefined;
  cleanup();
});

/** Both machines on, and known to be (a list reads live only from a machine its monitor saw up). */
async function fleet() {
  const dir = tempDir();
  cleanup = dir.cleanup;
  writeFileSync(join(dir.dir, "keys.yaml"), KEYS);
  h = await startFleetHarness({ on: ["big", "small"], env: { KEYS_FILE: join(dir.dir, "keys.yaml") } });
  for (const u of h.deps.fleet.units) await u.monitor.tick();
}

const as = (key: string, path: string, init: RequestInit = {}) => h!.api(path, { ...init, headers: { "x-api-key": key } });
const names = (list: { name?: string; id?: string }[]) => list.map((m) => m.name ?? m.id).sort();
const asked = (sim: FleetHarness["big"], path: string) => sim.ollama.requests.filter((r) => r.path === path).length;
const forget = () => {
  h!.big.ollama.requests.length = 0;
  h!.small.ollama.requests.length = 0;
};

describe("a key limited to machines: [small]", () => {
  test("/machines lists small only, and nothing of big (its leases' holders included)", async () => {
    await fleet();
    // An admin's lease on big, under a name the small-only key has no business seeing.
    const lease = await h!.api("/machines/big/wake?holder=ops-night-batch", { method: "POST" });
    expect(lease.status).toBe(200);
    const res = await as(SMALL_ONLY, "/machines");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text).machines.map((m: { name: string }) => m.name)).toEqual(["small"]);
    expect(text).not.toContain("ops-night-batch");
    expect(text).not.toContain("llama3.1:70b");
    // An admin still sees both.
    expect((await json(h!.api("/machines"))).machines.map((m: { name: string }) => m.name)).toEqual(["big", "small"]);
  });

  test("/api/tags, /v1/models and /api/ps are small's alone, and big is not even asked", async () => {
    await fleet();
    forget();
    expect(names((await json(as(SMALL_ONLY, "/api/tags"))).models)).toEqual(["qwen2.5:7b"]);
    expect(names((await json(as(SMALL_ONLY, "/v1/models"))).data)).toEqual(["qwen2.5:7b"]);
    expect((await as(SMALL_ONLY, "/api/ps")).status).toBe(200);
    expect(asked(h!.small, "/api/tags")).toBeGreaterThan(0);
    expect(asked(h!.small, "/api/ps")).toBe(1);
    expect(asked(h!.big, "/api/tags") + asked(h!.big, "/api/ps")).toBe(0);
    // The union is still whole for a key without a scope.
    expect(names((await json(h!.api("/api/tags"))).models)).toEqual(["llama3.1:70b", "qwen2.5:7b"]);
  });

  test("/api/version is answered by small, a machine it may use, not by the default one", async () => {
    await fleet();
    forget();
    const res = await as(SMALL_ONLY, "/api/version");
    expect(res.status).toBe(200);
    expect((await json(res)).version).toBeString();
    expect(asked(h!.small, "/api/version")).toBe(1);
    expect(asked(h!.big, "/api/version")).toBe(0);
    // Without a scope, the default machine's, as before.
    await h!.api("/api/version").then((r) => r.body?.cancel());
    expect(asked(h!.big, "/api/version")).toBe(1);
  });
});

describe('a key limited to models: ["qwen*"]', () => {
  test("/machines and /machines/{name} show only its models, with their sizes", async () => {
    await fleet();
    await h!.api("/api/tags").then((r) => r.body?.cancel()); // every machine's list read, and its sizes remembered
    const { machines } = await json(as(QWEN_ONLY, "/machines"));
    expect(machines.map((m: { name: string }) => m.name)).toEqual(["big", "small"]);
    const byName = Object.fromEntries(machines.map((m: { name: string }) => [m.name, m]));
    expect(byName.big.models).toEqual([]);
    expect(byName.big.model_sizes).toEqual({});
    expect(byName.small.models).toEqual(["qwen2.5:7b"]);
    expect(Object.keys(byName.small.model_sizes)).toEqual(["qwen2.5:7b"]);
    const big = await json(as(QWEN_ONLY, "/machines/big"));
    expect(JSON.stringify(big)).not.toContain("llama");
    // An admin still sees big's model.
    expect((await json(h!.api("/machines/big"))).models).toEqual(["llama3.1:70b"]);
  });

  test("/lista_modelos counts only its models", async () => {
    await fleet();
    // The default machine (big) holds llama3.1:70b and, after this pull, one qwen model: 2 in all, 1 of them its.
    const pull = await h!.api("/machines/big/api/pull", { method: "POST", body: JSON.stringify({ model: "qwen2.5:0.5b", stream: false }) });
    expect(pull.status).toBe(200);
    const list = await json(as(QWEN_ONLY, "/lista_modelos"));
    expect(list.success).toBe(true);
    expect(names(list.models)).toEqual(["qwen2.5:0.5b"]);
    expect(list.mensaje).toBe("1 models available");
    expect((await json(h!.api("/lista_modelos"))).mensaje).toBe("2 models available");
  });
});
