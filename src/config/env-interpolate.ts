// `${NAME}` in the values of a configuration file (MACHINES_FILE, KEYS_FILE) reads NAME from the environment,
// so passwords, tokens and keys stay in .env. Every value read so is a secret for the redactor. readYamlFile
// reads such a file.
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { hintUnknownKeys } from "../lib/did-you-mean.ts";
import { excerpt, locateYamlProblem } from "../lib/yaml-error.ts";

export interface Interpolation {
  /** Names a place in the file for an error line, from its path. */
  describe: (path: PropertyKey[]) => string;
  /** Filled with every value read from the environment. */
  secrets: string[];
  /** Filled with one line per variable used but not set. */
  missing: string[];
}

/** A copy of `v` with `${NAME}` in every string replaced by the variable's value. */
export function interpolate(v: unknown, env: Record<string, string | undefined>, path: PropertyKey[], out: Interpolation): unknown {
  if (typeof v === "string") {
    return v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_all, name: string) => {
      const value = env[name];
      if (value === undefined || value === "") {
        out.missing.push(`${out.describe(path)}: \${${name}} is not set in the environment`);
        return "";
      }
      out.secrets.push(value);
      return value;
    });
  }
  if (Array.isArray(v)) return v.map((x, i) => interpolate(x, env, [...path, i], out));
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, interpolate(x, env, [...path, k], out)]));
  }
  return v;
}

/** "MACHINES_FILE machines[1] (small).ssh.port": a place in a file whose top key lists named entries. */
export function placeIn(file: string, list: string, raw: unknown, path: PropertyKey[]): string {
  let out = file;
  path.forEach((p, i) => {
    if (typeof p === "number") {
      out += `[${p}]`;
      const name = path[0] === list && i === 1 ? (raw as Record<string, { name?: unknown }[] | undefined> | null)?.[list]?.[p]?.name : undefined;
      if (typeof name === "string") out += ` (${name})`;
    } else out += i === 0 ? ` ${String(p)}` : `.${String(p)}`;
  });
  return out;
}

/**
 * A configuration file read as YAML (JSON is YAML too), or the one problem saying why it cannot be, named by
 * its variable: for a mistake in the YAML, its line and column, and the line itself with a caret under them.
 */
export function readYamlFile(path: string, variable: string): { ok: true; raw: unknown } | { ok: false; errors: string[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, errors: [`${variable}: ${code === "ENOENT" ? `no file at ${path}` : `cannot be read (${code ?? "error"})`}`] };
  }
  try {
    return { ok: true, raw: Bun.YAML.parse(text) };
  } catch (err) {
    const p = locateYamlProblem(text, (err as Error).message ?? "");
    const at = p.line === undefined ? "" : ` line ${p.line}, column ${p.column}`;
    return { ok: false, errors: [`${variable}${at}: ${p.problem}${excerpt(text, p)}`] };
  }
}

/** What a list file gave: its data when its schema took it (problems may remain: unset ${NAME}s), every problem. */
export interface ListFile<T> {
  raw: unknown;
  data: T | undefined;
  /** Every value read from the environment: secrets for the redactor. */
  secrets: string[];
  errors: string[];
}

/**
 * A file whose top key lists named entries (MACHINES_FILE's machines, KEYS_FILE's keys): read as YAML, its
 * ${NAME}s filled in, checked against its schema; each problem one line naming its place (`where`), an
 * unknown key with the nearest one that place takes (`keysAt`).
 */
export function readListFile<T>(
  path: string,
  variable: string,
  env: Record<string, string | undefined>,
  schema: z.ZodType<T>,
  where: (raw: unknown, path: PropertyKey[]) => string,
  keysAt: (path: PropertyKey[]) => readonly string[] | undefined,
): { ok: false; errors: string[] } | ({ ok: true } & ListFile<T>) {
  const read = readYamlFile(path, variable);
  if (!read.ok) return read;
  const { raw } = read;
  const secrets: string[] = [];
  const errors: string[] = [];
  const data = interpolate(raw, env, [], { describe: (p) => where(raw, p), secrets, missing: errors });
  const parsed = schema.safeParse(data);
  if (!parsed.success) errors.push(...parsed.error.issues.map((i) => `${where(raw, i.path)}: ${hintUnknownKeys(i.message, keysAt(i.path))}`));
  return { ok: true, raw, data: parsed.success ? parsed.data : undefined, secrets, errors };
}
