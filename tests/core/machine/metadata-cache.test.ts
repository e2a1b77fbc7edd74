import { expect, test } from "bun:test";
import { join } from "node:path";
import { MetadataCache } from "../../../src/core/machine/metadata-cache.ts";
import { memoryLogger } from "../../../src/core/telemetry/logger.ts";
import { tempDir } from "../../helpers.ts";

test("answers saved at the same moment all end up in the cache file", async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "metadata_cache.json");
    const cache = new MetadataCache(file, memoryLogger());
    await Promise.all([cache.put("/api/tags", { models: [] }), cache.put("/api/version", { version: "1" })]);
    const reread = new MetadataCache(file, memoryLogger());
    expect((await reread.get("/api/tags"))?.body).toEqual({ models: [] });
    expect((await reread.get("/api/version"))?.body).toEqual({ version: "1" });
  } finally {
    cleanup();
  }
});
