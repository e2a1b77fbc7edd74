// Opening the usage database: WAL, the schema brought up to date, and a file that is not a database moved aside.
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { dirname } from "node:path";
import type { Logger } from "../telemetry/logger.ts";
import { migrate } from "./schema.ts";

/** The open database, or undefined (logged and counted through onError) when it cannot be opened. */
export function openDatabase(o: { path: string; logger: Logger; onError?: (what: string) => void }): Database | undefined {
  const fail = (what: string, err: unknown) => {
    o.onError?.(what);
    o.logger.error("usage: the database could not be opened; usage is not kept", {
      file: o.path,
      error: err instanceof Error ? err.message : String(err),
    });
  };
  try {
    return openAndMigrate(o.path);
  } catch (err) {
    const code = (err as { code?: string }).code ?? "";
    if (code !== "SQLITE_NOTADB" && code !== "SQLITE_CORRUPT") return void fail("open", err);
    // A broken file is kept aside for whoever wants to look at it, and a new one started.
    const aside = `${o.path}.corrupt-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    o.onError?.("corrupt");
    try {
      for (const suffix of ["", "-wal", "-shm"]) if (existsSync(o.path + suffix)) renameSync(o.path + suffix, aside + suffix);
      o.logger.error("usage: the database was not readable; it was moved aside and a new one started", {
        file: o.path,
        moved_to: aside,
        error: err instanceof Error ? err.message : String(err),
      });
      return openAndMigrate(o.path);
    } catch (again) {
      return void fail("open", again);
    }
  }
}

function openAndMigrate(path: string): Database {
  // The status folder may not exist yet (the status store makes it later, when it first writes).
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true, strict: true });
  try {
    db.run("PRAGMA journal_mode = WAL");
    // WAL with NORMAL: a crash of the process loses nothing committed, a power cut at most the last writes.
    db.run("PRAGMA synchronous = NORMAL");
    migrate(db);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
