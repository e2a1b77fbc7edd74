// The model lists seen, shared between replicas (core/replica/shared-answers.ts behind machine/metadata-cache.ts)
// against a real redis-server on loopback: a replica that never saw the machine awake answers from what another
// saw, and its model index learns the list without a request; a list too large stays where it was seen; with
// the store away, each replica serves the last list it saw, and what one saw meanwhile reaches the others after.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ModelIndex } from "../../../src/core/fleet/model-index.ts";
import { MetadataCache } from "../../../src/core/machine/metadata-cache.ts";
import { MAX_SHARED_ANSWER_BYTES, SharedMetadata } from "../../../src/core/replica/shared-answers.ts";
import { SharedStore } from "../../../src/core/replica/store.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir, until } from "../../helpers.ts";
import { hasRedis, REDIS_SERVER, type Redis, startRedis } from "../../redis.ts";

const SKIP = hasRedis ? "" : `${REDIS_SERVER} is not installed (apt-get install redis-server; .ci/run installs it)`;
const TAGS = "/api/tags";
const list = (...names: string[]) => ({ models: names.map((name) => ({ name, model: name, size: 1, modified_at: "2026-01-01T00:00:00Z" })) });
const names = (body: unknown) => ((body as ReturnType<typeof list>)?.models ?? []).map((m) => m.name);

describe.skipIf(Boolean(SKIP))(SKIP ? `model lists across replicas (skipped: ${SKIP})` : "model lists across replicas", () => {
  let redis: Redis;
  const ends: (() => unknown)[] = [];
  let dir = "";
  beforeAll(async () => {
    const t = tempDir("ollama-gate-redis-");
    dir = t.dir;
    ends.push(t.cleanup);
    redis = await startRedis(dir);
    ends.push(() => redis.stop());
  });
  afterAll(async () => {
    for (const end of ends.reverse()) await end();
  });

  /** One replica's view of the machine `gpu`: its store, its cache file, and its fleet's model index. */
  function replica(name: string, prefix: string, url = redis.url) {
    const logger = memoryLogger();
    const store = new SharedStore({ url, prefix, logger, commandTimeoutMs: 500 });
    store.start();
    ends.push(() => store.stop());
    const index = new ModelIndex([{ name: "gpu", models: [] }]);
    const file = join(dir, `${prefix.replace(/\W/g, "")}-${name}.json`);
    const shared = new SharedMetadata({ store, machine: "gpu", logger });
    const cache = new MetadataCache(file, logger, undefined, (models) => index.report("gpu", models), shared);
    return { store, index, cache, file, logger };
  }

  async function listening(store: SharedStore, n: number, channel: string) {
    await store.ready();
    await until(async () => {
      const r = (await store.send("PUBSUB", ["NUMSUB", channel])) as unknown;
      return Number(Array.isArray(r) ? r[1] : (r as Record<string, unknown>)[channel]) >= n;
    }, 10_000);
  }

  test("a list one replica saw is answered by another that never saw the machine; its index learns it unasked", async () => {
    const a = replica("a", "one:");
    const b = replica("b", "one:");
    await listening(a.store, 2, "one:answers");
    expect(await b.cache.get(TAGS)).toBeNull();
    await a.cache.put(TAGS, list("llama3:8b", "qwen2.5:7b"));
    // Told on the channel: b's index has it before anybody asks b for a list.
    await until(() => b.index.holders("llama3:8b").includes("gpu"));
    const seen = await b.cache.get(TAGS);
    expect(names(seen?.body)).toEqual(["llama3:8b", "qwen2.5:7b"]);
    expect(seen?.saved_at).toBe((await a.cache.get(TAGS))!.saved_at);
    expect(names((await b.cache.tags())?.tags)).toEqual(["llama3:8b", "qwen2.5:7b"]);
    // b keeps it in its own file too, for a start while the store is away.
    expect(names(((await Bun.file(b.file).json()) as Record<string, { body: unknown }>)[TAGS]!.body)).toEqual(["llama3:8b", "qwen2.5:7b"]);
    await a.cache.put(TAGS, list("mistral:7b"));
    await until(() => b.index.holders("mistral:7b").includes("gpu"));
    expect(b.index.holders("llama3:8b")).toEqual([]);
    expect(names((await b.cache.get(TAGS))?.body)).toEqual(["mistral:7b"]);
  });

  test("a list too large to share stays on the replica that saw it until a newer one is shared", async () => {
    const a = replica("a", "big:");
    const b = replica("b", "big:");
    await listening(a.store, 2, "big:answers");
    await a.cache.put(TAGS, list("small:1b"));
    await until(() => b.index.holders("small:1b").includes("gpu"));
    const many = Array.from({ length: 2000 }, (_, i) => `model-${i}-${"x".repeat(600)}:latest`);
    await a.cache.put(TAGS, list(...many));
    await a.logger.waitFor((l) => l.includes("too large to share"));
    expect((await a.cache.get(TAGS))?.body).toEqual(list(...many));
    expect(names((await b.cache.get(TAGS))?.body)).toEqual(["small:1b"]);
    expect(Number(await a.store.send("HSTRLEN", [a.store.key("answers", "gpu"), TAGS]))).toBeLessThanOrEqual(MAX_SHARED_ANSWER_BYTES);
    // A newer list that fits, seen by another replica, replaces it.
    await b.cache.put(TAGS, list("newer:1b"));
    await until(() => a.index.holders("newer:1b").includes("gpu"));
    expect(names((await a.cache.get(TAGS))?.body)).toEqual(["newer:1b"]);
  });

  test("with the store away each serves the last list it saw; one seen meanwhile reaches the others once it is back", async () => {
    const t = tempDir("ollama-gate-redis-");
    ends.push(t.cleanup);
    const own = await startRedis(t.dir); // nothing saved: it comes back empty, as after losing its data
    ends.push(() => own.stop());
    const a = replica("a", "away:", own.url);
    const b = replica("b", "away:", own.url);
    await listening(a.store, 2, "away:answers");
    await a.cache.put(TAGS, list("before:1b"));
    await until(() => b.index.holders("before:1b").includes("gpu"));
    await own.stop();
    expect(names((await b.cache.get(TAGS))?.body)).toEqual(["before:1b"]);
    // A replica started meanwhile serves what its file says.
    const again = new MetadataCache(b.file, b.logger, undefined, () => {}, new SharedMetadata({ store: b.store, machine: "gpu", logger: b.logger }));
    expect(names((await again.get(TAGS))?.body)).toEqual(["before:1b"]);
    await a.cache.put(TAGS, list("during:1b"));
    expect(names((await a.cache.get(TAGS))?.body)).toEqual(["during:1b"]);
    expect(names((await b.cache.get(TAGS))?.body)).toEqual(["before:1b"]);
    await own.start();
    // a sends what it saw while the store was away as soon as it is back; b reads it from the store.
    await until(async () => names((await b.cache.get(TAGS))?.body)[0] === "during:1b", 15_000);
    expect(names((await a.cache.get(TAGS))?.body)).toEqual(["during:1b"]);
    expect(b.index.holders("during:1b")).toEqual(["gpu"]);
  }, 30_000);
});
