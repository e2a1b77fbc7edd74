// What the benches read from their own environment, and the environment they give each child: only what the
// child needs, never the caller's whole shell, and no .env file (`bun --no-env-file`).

/**
 * A number from the environment, or `fallback` when it is unset, blank, not a number or below `min`. One rule
 * for every BENCH_* and HOSTILE_* setting: 0 is a value (no warm-up, no limit) unless `min` says otherwise.
 */
export function num(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  const v = raw === undefined || raw.trim() === "" ? Number.NaN : Number(raw);
  return Number.isFinite(v) && v >= min ? v : fallback;
}

/** A switch: on only when set to "1". */
export const flag = (name: string) => process.env[name] === "1";

/** A text setting; unset and blank both mean `fallback`. */
export const text = (name: string, fallback = "") => process.env[name]?.trim() || fallback;

/**
 * A child's whole environment: the few variables any process needs, the engine's own settings (BUN_OPTIONS,
 * BUN_JSC_*: the gateway is measured under them), then `own`. Nothing else of the caller's shell gets through.
 */
export function childEnv(own: Record<string, string>): Record<string, string> {
  const passed = ["PATH", "HOME", "TMPDIR", "LANG", "BUN_OPTIONS", ...Object.keys(process.env).filter((k) => k.startsWith("BUN_JSC_"))];
  const base = Object.fromEntries(passed.flatMap((k) => (process.env[k] ? [[k, process.env[k]!]] : [])));
  return { ...base, ...own };
}

/** How a TypeScript file is started as a child: this bun, reading no .env from wherever it runs. */
export const bunScript = (file: string, ...args: string[]) => [process.execPath, "--no-env-file", file, ...args];
