// The entry point: the engine's JIT policy first, then everything else (start.ts), which a static import
// would have loaded before any line here runs.

/**
 * How many times more often than usual a function must run before JavaScriptCore compiles it to faster
 * machine code. By default that is after about a thousand calls, and under load every path of a gateway
 * passes it — each error branch, validation and route a client reaches once a minute — and the optimising
 * compilers' code and working memory stay. A higher policy keeps them for the hot paths only: a lower peak
 * under `bun run bench:hostile` and a smaller idle size, for some of the proxy's throughput on tiny requests,
 * nothing next to a model's seconds. The figures: README, "Benchmarks" ("The engine's optimising compilers").
 */
const JIT_POLICY = 50;

Bun.unsafe.setJITPolicy(JIT_POLICY);
// `--help`, `check` and a word the gateway does not know end here, before anything is built or listens.
const { gatewayCommand } = await import("./cli/usage.ts");
const { SSH_SUBCOMMAND } = await import("./core/machine/ssh-process.ts");
const command = gatewayCommand(process.argv.slice(2), ["healthcheck", SSH_SUBCOMMAND]);
if ("exit" in command) process.exit(command.exit);
if (command.run === "check") process.exit((await import("./cli/check.ts")).runCheck(process.env));
await import("./cli/start.ts");

export {};
