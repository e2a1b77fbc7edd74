// How the gateway keeps inside its container's memory: how much of the request bodies it holds at once,
// and when it asks for a full garbage collection (src/lib/gc.ts). deps.ts wires these; README "Bounded
// under hostile load" explains them, and `bun run bench:hostile` measures them.

/** Bodies of the management routes (/arrancar, /apagar, …) hold a few small fields. */
export const MANAGEMENT_BODY_BYTES = 64 * 1024;
/**
 * Request bodies held in memory at one moment, all together: the first 64 KB of each in one pool, the rest
 * in another, each body counted twice (Bun's copy and ours). With the gateway's own idle size (README,
 * "Benchmarks") this keeps the process inside a 128 MB container whatever arrives. A request that finds its
 * pool spent gets 503.
 */
export const SMALL_BODY_MEMORY_BYTES = 8 * 1048576;
export const LARGE_BODY_MEMORY_BYTES = 8 * 1048576;
/**
 * The part of each pool one key (or address) may hold (past it, only a body alone in the pool): however many
 * slow bodies one key sends, the others keep the rest.
 */
export const BODY_SHARE_PER_KEY = 0.5;
/**
 * The slowest a request body may come: after a first grace, a body that averages less than this over the
 * window is cut with 408 (a byte every few seconds would otherwise hold its share of the pools for ever).
 */
export const BODY_RATE_FLOOR = { bytesPerSecond: 1024, graceMs: 10_000, windowMs: 10_000 };
/**
 * A collection after every this many bytes read from Ollama: what passes through is garbage once sent,
 * and left to the collector's own pace a burst of streams kept the process larger afterwards (README, "Benchmarks").
 */
export const PROXIED_BYTES_PER_COLLECTION = 8 * 1048576;

/** Proxied requests at once that make a burst, collected once the last has ended and none began for 100 ms (see collectAfterBurst). */
export const BURST_FOR_COLLECTION = 32;

/** Requests stopped for this long (from one tick to the next): one collection (see collectWhenQuiet). */
export const QUIET_COLLECTION_MS = 1000;

/**
 * Past this resident size, a flood of requests is collected (see collectWhenLarge): its size is read every
 * 256 times a request starts or ends, and at most every 200 ms it is collected. The only collection while
 * requests keep coming: below the mark a flood costs no collection at all. Well above a quiet gateway's size
 * and far enough below 100 MB for the garbage a flood makes between two readings.
 */
export const LARGE_RESIDENT = { every: 256, highBytes: 80 * 1048576, minGapMs: 200 };
