// The entry point: the engine's JIT policy first, then everything else (start.ts), which a static import
// would have loaded before any line here runs.

/**
 * How many times more often than usual a function must run before JavaScriptCore compiles it to faster
 * machine code. By default it does so after about a thousand calls, and a gateway's every path passes
 * that soon — each one error branch, validation and route a client reaches once a minute — and the
 * optimising compilers' code and working memory stay. Measured with `bun run bench:hostile` (fuzz, 4 runs
 * each): peak RSS 101–106 MB at 1, 90–94 MB at 50, idle 60 → 54 MB; the proxy's throughput after a 2 s
 * warm-up (`bun run bench`) within 10 %, since what runs per proxied request is still hot enough.
 */
const JIT_POLICY = 50;

Bun.unsafe.setJITPolicy(JIT_POLICY);
await import("./start.ts");

export {};
