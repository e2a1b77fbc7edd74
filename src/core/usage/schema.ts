// The usage database's tables and how an earlier file is brought up to date. The schema's version is SQLite's
// own `PRAGMA user_version`: migration i takes a file from version i to i + 1, so a later gateway opens any
// earlier file, and a file from a later gateway (a version we do not know) is left untouched.
import type { Database } from "bun:sqlite";

/** Time to first byte is kept as counts per bucket (ms, upper bounds), plus one for anything slower. */
export const TTFB_BUCKETS_MS = [50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000];
export const TTFB_COLUMNS = Array.from({ length: TTFB_BUCKETS_MS.length + 1 }, (_, i) => `t${i}`);

/** The sums an hour row keeps, in the order of the upsert's values after the group's columns. */
export const SUM_COLUMNS = [
  "requests",
  "errors",
  "prompt_tokens",
  "completion_tokens",
  "unreported",
  "generation_s",
  "load_s",
  "wake_wait_s",
  ...TTFB_COLUMNS,
];
export const GROUP_COLUMNS = ["hour", "key", "user", "model", "machine", "kind"];

/** Each entry is one version's statements. Never edit a shipped entry: add one. */
export const MIGRATIONS: string[][] = [
  // 1: hourly sums, one row per hour × key × user × model × machine × kind ("" is no user: a key column cannot be NULL).
  [
    `CREATE TABLE usage_hours (
      hour INTEGER NOT NULL, "key" TEXT NOT NULL, "user" TEXT NOT NULL, model TEXT NOT NULL, machine TEXT NOT NULL, kind TEXT NOT NULL,
      requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
      prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0, unreported INTEGER NOT NULL DEFAULT 0,
      generation_s REAL NOT NULL DEFAULT 0, load_s REAL NOT NULL DEFAULT 0, wake_wait_s REAL NOT NULL DEFAULT 0,
      ${TTFB_COLUMNS.map((c) => `${c} INTEGER NOT NULL DEFAULT 0`).join(", ")},
      PRIMARY KEY (hour, "key", "user", model, machine, kind)
    ) WITHOUT ROWID`,
  ],
  // 2: energy: each machine's power state changes (an interval runs to the next change) and a measuring plug's
  // readings summed per hour (a reading every probe would be millions of rows a year).
  [
    `CREATE TABLE power_changes (machine TEXT NOT NULL, at INTEGER NOT NULL, state TEXT NOT NULL, PRIMARY KEY (machine, at)) WITHOUT ROWID`,
    `CREATE TABLE meter_readings (
      machine TEXT NOT NULL, hour INTEGER NOT NULL, watts_sum REAL NOT NULL, readings INTEGER NOT NULL, PRIMARY KEY (machine, hour)
    ) WITHOUT ROWID`,
  ],
  // 3: the gateway's last sign of life (downtime.ts), so a run killed without a stop leaves no open-ended state.
  ["CREATE TABLE gateway_alive (id INTEGER PRIMARY KEY CHECK (id = 0), at INTEGER NOT NULL)"],
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export class NewerSchemaError extends Error {
  constructor(readonly version: number) {
    super(`the usage database has schema version ${version}, newer than this gateway's ${SCHEMA_VERSION}: it is left as it is`);
  }
}

/** Brings the file to SCHEMA_VERSION in one transaction; returns the version it had. */
export function migrate(db: Database): number {
  const version = (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  if (version > SCHEMA_VERSION) throw new NewerSchemaError(version);
  if (version === SCHEMA_VERSION) return version;
  db.transaction(() => {
    for (const statements of MIGRATIONS.slice(version)) for (const sql of statements) db.run(sql);
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  })();
  return version;
}

const list = (cols: string[]) => cols.map((c) => `"${c}"`).join(", ");

/** Adds a pending group's sums to its row (or creates it). */
export const UPSERT_HOUR = `INSERT INTO usage_hours (${list([...GROUP_COLUMNS, ...SUM_COLUMNS])})
  VALUES (${[...GROUP_COLUMNS, ...SUM_COLUMNS].map(() => "?").join(", ")})
  ON CONFLICT DO UPDATE SET ${SUM_COLUMNS.map((c) => `${c} = ${c} + excluded.${c}`).join(", ")}`;

export const UPSERT_READING = `INSERT INTO meter_readings (machine, hour, watts_sum, readings) VALUES (?, ?, ?, ?)
  ON CONFLICT DO UPDATE SET watts_sum = watts_sum + excluded.watts_sum, readings = readings + excluded.readings`;

export const INSERT_CHANGE = "INSERT OR REPLACE INTO power_changes (machine, at, state) VALUES (?, ?, ?)";
