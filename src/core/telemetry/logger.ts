export type Level = "debug" | "info" | "warn" | "error";

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** More secrets to blank out from now on (a reloaded key); loggers that redact nothing need not. */
  addSecrets?(secrets: string[]): void;
  /**
   * A line whose fields are JSON text already (`"a":1,"b":"x"`, see jsonField): the access log writes one per
   * request, and builds no object for it. Loggers without it are given the fields as an object instead.
   */
  withJson?(level: Level, msg: string, fields: string): void;
}

/** One field of a line for withJson: `,"name":value`, nothing when the value is undefined (as JSON.stringify leaves it out). */
export const jsonField = (name: string, value: string | number | undefined): string =>
  value === undefined ? "" : `,"${name}":${typeof value === "number" ? (Number.isFinite(value) ? value : null) : JSON.stringify(value)}`;

export type Sink = (line: string) => void;

/**
 * Builds the redactor used for every log line and every error detail: each known secret value is
 * replaced, so a secret that leaks into an exception message is still never written out.
 */
/** Blanks secrets out of a text; `add` takes more (keys a reload of KEYS_FILE brought). */
export type Redactor = ((text: string) => string) & { add(secrets: string[]): void };

export function makeRedactor(secrets: string[]): Redactor {
  let values: string[] = [];
  const add = (more: string[]) => {
    // Lines are JSON, where a secret with a quote or a backslash appears escaped: blank out both forms.
    const forms = more.filter((s) => s.length >= 3).flatMap((s) => [s, JSON.stringify(s).slice(1, -1)]);
    // Longest first, so a secret that contains another is blanked out whole.
    values = [...new Set([...values, ...forms])].sort((a, b) => b.length - a.length);
  };
  add(secrets);
  const redact = (text: string) => {
    for (const v of values) if (text.includes(v)) text = text.split(v).join("***");
    return text;
  };
  return Object.assign(redact, { add });
}

/**
 * Collects the lines of one event-loop turn and writes them with one call: under load, one write per
 * request line was the gateway's single largest cost. Lines still leave within a millisecond or so.
 */
export function stderrSink(): Sink {
  // A reader of the log that goes away (a closed pipe: `ollama-gate | head`, a log shipper restarting)
  // makes every later write fail with EPIPE, which unhandled ends the process. Losing log lines is
  // better than losing the gateway and every stream it carries.
  process.stderr.on("error", () => {});
  let pending: string[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const text = pending.join("\n") + "\n";
    pending = [];
    process.stderr.write(text);
  };
  process.on("exit", flush);
  return (line) => {
    if (pending.push(line) === 1) setImmediate(flush);
  };
}

export function createLogger(opts: { secrets?: string[]; sink?: Sink; level?: Level } = {}): Logger {
  const redact = makeRedactor(opts.secrets ?? []);
  const sink = opts.sink ?? stderrSink();
  const order: Level[] = ["debug", "info", "warn", "error"];
  const min = order.indexOf(opts.level ?? "info");
  const clock = isoClock();
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (order.indexOf(level) < min) return;
    const record = { time: clock(), level, msg, ...fields };
    // A replacer makes JSON.stringify call back for every key: only lines that may hold an error pay for it.
    sink(redact(fields && !allPlain(fields) ? JSON.stringify(record, errorReplacer) : JSON.stringify(record)));
  };
  return {
    withJson: (level, msg, fields) => {
      if (order.indexOf(level) < min) return;
      // The same line as emit's: time, level and msg first, then the fields (a leading comma each: jsonField).
      sink(redact(`{"time":"${clock()}","level":"${level}","msg":${JSON.stringify(msg)}${fields}}`));
    },
    addSecrets: (more) => redact.add(more),
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

/** Whether no field is an object (an error, or one that may hold an error): nothing for the replacer to change. */
function allPlain(fields: Record<string, unknown>): boolean {
  for (const k in fields) {
    const v = fields[k];
    if (v !== null && typeof v === "object") return false;
  }
  return true;
}

/** The time as ISO 8601, formatted once per millisecond: a busy gateway writes many lines in the same one. */
function isoClock(): () => string {
  let ms = Number.NaN;
  let text = "";
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      text = new Date(now).toISOString();
    }
    return text;
  };
}

function errorReplacer(_key: string, value: unknown) {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}

/** A logger that keeps lines in memory: tests read it to prove what was and was not written, or wait for a line. */
export function memoryLogger(secrets: string[] = []): Logger & { lines: string[]; waitFor: (match: (line: string) => boolean) => Promise<string> } {
  const lines: string[] = [];
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  const sink = (line: string) => {
    lines.push(line);
    for (const w of waiters) if (w.match(line)) waiters.delete(w), w.resolve(line);
  };
  const waitFor = (match: (line: string) => boolean) =>
    new Promise<string>((resolve) => {
      const seen = lines.find(match);
      if (seen) resolve(seen);
      else waiters.add({ match, resolve });
    });
  return Object.assign(createLogger({ secrets, sink, level: "debug" }), { lines, waitFor });
}

/** The same logger, with `fields` on every line (a machine's name on all its unit writes). */
export function withFields(logger: Logger, fields: Record<string, unknown>): Logger {
  return {
    debug: (m, f) => logger.debug(m, { ...fields, ...f }),
    info: (m, f) => logger.info(m, { ...fields, ...f }),
    warn: (m, f) => logger.warn(m, { ...fields, ...f }),
    error: (m, f) => logger.error(m, { ...fields, ...f }),
  };
}
