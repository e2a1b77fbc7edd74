// The memory pools every route's request bodies share, and each kind of route's limit within them.
import { BODY_SHARE_PER_KEY, LARGE_BODY_MEMORY_BYTES, MANAGEMENT_BODY_BYTES, SMALL_BODY_MEMORY_BYTES } from "../config/memory-budget.ts";
import { ByteBudget, ShareBudget } from "../lib/byte-budget.ts";
import type { RateFloor } from "../lib/rate-floor.ts";
import { type BodyLimits, BUFFER_LIMIT } from "./body.ts";

/** The limits per kind of route: the management routes', the old /ollama/* routes' (MAX_BODY_MB), Ollama's API's. */
export interface Bodies {
  management: BodyLimits;
  legacy: BodyLimits;
  passthrough: BodyLimits;
}

/**
 * Two pools for all (the first 64 KB of each body, and the rest), each key's share of them, and the slowest a
 * body may come. `collect` is asked for once a megabyte or more of large bodies is freed at once.
 */
export function bodyPools(o: { legacyMaxBytes: number; floor: RateFloor; collect: () => void }): Bodies {
  const small = new ShareBudget(new ByteBudget(SMALL_BODY_MEMORY_BYTES), SMALL_BODY_MEMORY_BYTES * BODY_SHARE_PER_KEY);
  const freed = (bytes: number) => bytes >= 1048576 && o.collect();
  const large = new ShareBudget(new ByteBudget(LARGE_BODY_MEMORY_BYTES, freed), LARGE_BODY_MEMORY_BYTES * BODY_SHARE_PER_KEY);
  const limits = (maxBytes: number) => ({ maxBytes, small, large, floor: o.floor });
  return { management: limits(MANAGEMENT_BODY_BYTES), legacy: limits(o.legacyMaxBytes), passthrough: limits(BUFFER_LIMIT) };
}
