import { createRoute, z } from "@hono/zod-openapi";
import { mayUseMachine } from "../core/access/access.ts";
import { energyByHour } from "../core/usage/energy.ts";
import { SUM_FIELDS, usageReport } from "../core/usage/report.ts";
import { GROUP_FIELDS, type GroupField, type TimeBucket, USAGE_KINDS, type UsageRow } from "../core/usage/types.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, ErrorSchema, errorResponses, jsonContent } from "../http/router.ts";
import { parseInstant } from "../lib/zoned-time.ts";

const DAY_MS = 86_400_000;
const DEFAULT_DAYS = 30;
const DEFAULT_GROUP = "key,model";
const GROUP_WORDS = `any of ${GROUP_FIELDS.join(", ")}, and at most one of day, hour`;

const Sums = {
  requests: z.number().int(),
  errors: z.number().int().openapi({ description: "Answers with status ≥ 400, or cut before their end" }),
  prompt_tokens: z.number().int().openapi({ description: "As Ollama reported them" }),
  completion_tokens: z.number().int(),
  unreported: z.number().int().openapi({ description: "Requests whose token counts Ollama did not report (never estimated)" }),
  generation_s: z
    .number()
    .openapi({ description: "Ollama's prompt and eval durations; without them (OpenAI, Anthropic answers) the request's time less its wake wait" }),
  load_s: z.number().openapi({ description: "Ollama's load_duration" }),
  ttfb_ms_p50: z.number().nullable().openapi({ description: "Median time to first byte, read within its bucket; null: no answer began" }),
  wake_wait_s: z.number(),
  energy_kwh: z
    .number()
    .nullable()
    .openapi({ description: "Each hour's on-energy of the machine × the row's share of its generation seconds; null: no power_watts" }),
};
const UsageRowSchema = z
  .object({
    key: z.string().optional(),
    user: z.string().nullable().optional(),
    model: z.string().optional(),
    machine: z.string().optional(),
    kind: z.enum(USAGE_KINDS as [string, ...string[]]).optional(),
    day: z.string().optional().openapi({ description: "YYYY-MM-DD in TZ", example: "2026-11-25" }),
    hour: z.string().optional().openapi({ description: "YYYY-MM-DDTHH:MM in TZ", example: "2026-11-25T14:00" }),
    ...Sums,
  })
  .openapi("UsageRow");
const UsageSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    tz: z.string().openapi({ description: "The zone days and hours are in (TZ)", example: "Europe/Madrid" }),
    group_by: z.array(z.string()),
    rows: z.array(UsageRowSchema),
    totals: z.object(Sums),
  })
  .openapi("Usage");

const text = (description: string, example?: string) =>
  z
    .string()
    .optional()
    .openapi({ description, ...(example ? { example } : {}) });

const usage = createRoute({
  method: "get",
  path: "/usage",
  tags: ["Usage"],
  summary: "Tokens, requests, seconds and energy by key, person, model, machine, kind, day or hour",
  description:
    "From the hourly sums of every proxied request that generates or embeds (Ollama's own figures). An admin key sees every key's " +
    "rows; a `user` key only its own key's; an `inference` key none (403). A key limited to some machines sees only theirs. " +
    "Rows are sorted by completion_tokens, most first. Periods are read by the hour: an hour's sums count when the hour starts in [from, to).",
  request: {
    query: z.object({
      from: text("Start, inclusive: an ISO 8601 date (midnight in TZ) or date and time (default: 30 days before `to`)", "2026-11-01"),
      to: text("End, exclusive: the same forms (default: now)", "2026-12-01"),
      group_by: text(`Comma-separated: ${GROUP_WORDS} (default ${DEFAULT_GROUP}; empty: one row)`, "key,model,day"),
      format: text("json (the default) or csv: a header row, then the rows' columns in the same order", "csv"),
    }),
  },
  responses: {
    200: {
      description: "The rows and their totals",
      content: { "application/json": { schema: UsageSchema }, "text/csv": { schema: z.string() } },
    },
    400: jsonContent(ErrorSchema, "An unknown group_by field, both day and hour, a from or to that is no date or time, or an unknown format"),
    403: jsonContent(ErrorSchema, "An inference key: it may only use Ollama's API"),
    ...errorResponses(),
  },
});

/** group_by's fields and time bucket, or why it cannot be read. */
export function parseGroupBy(raw: string): { groupBy: GroupField[]; bucket?: TimeBucket } | string {
  const groupBy: GroupField[] = [];
  let bucket: TimeBucket | undefined;
  for (const word of raw.split(",").map((w) => w.trim())) {
    if (word === "") continue;
    if (word === "day" || word === "hour") {
      if (bucket && bucket !== word) return `group_by: at most one of day and hour (got both)`;
      bucket = word;
    } else if ((GROUP_FIELDS as readonly string[]).includes(word)) {
      if (!groupBy.includes(word as GroupField)) groupBy.push(word as GroupField);
    } else {
      return `group_by: unknown field ${JSON.stringify(word.slice(0, 40))}: expected ${GROUP_WORDS}`;
    }
  }
  return bucket ? { groupBy, bucket } : { groupBy };
}

export function usageRoutes(deps: AppDeps) {
  return createRouter().openapi(usage, async (c) => {
    const q = c.req.valid("query");
    // Every word is checked before anything is read.
    const grouping = parseGroupBy(q.group_by ?? DEFAULT_GROUP);
    if (typeof grouping === "string") return c.json({ detail: grouping }, 400);
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const to = q.to === undefined ? deps.now() : parseInstant(q.to, tz);
    if (to === null) return c.json({ detail: "to: expected an ISO 8601 date (2026-11-30) or date and time (2026-11-30T08:00:00Z)" }, 400);
    const from = q.from === undefined ? to - DEFAULT_DAYS * DAY_MS : parseInstant(q.from, tz);
    if (from === null) return c.json({ detail: "from: expected an ISO 8601 date (2026-11-01) or date and time (2026-11-01T08:00:00Z)" }, 400);
    if (from >= to) return c.json({ detail: "from must be before to" }, 400);
    const format = q.format ?? "json";
    if (format !== "json" && format !== "csv") return c.json({ detail: "format: expected json or csv" }, 400);

    const key = c.get("apiKey");
    // The auth step refuses an inference key; a user key reads its own key's rows only.
    const own = key && key.role !== "admin" ? key.name : undefined;
    // With replicas the sums are the shared store's (an answer from Redis, or a 503 while it is away).
    const reads = deps.usageReads ?? deps.usageStore;
    const hours = (await reads.hours({ from, to })).filter((h) => !key?.machines || mayUseMachine(key, h.machine));
    const readings = deps.energyReadings;
    // Each machine's intervals are read once, before the report (which reads them synchronously).
    const energy = new Map<string, ReturnType<typeof energyByHour> | null>();
    for (const machine of new Set(hours.map((h) => h.machine))) {
      const watts = deps.fleet.byName.get(machine)?.config.powerWatts;
      energy.set(machine, watts && readings ? energyByHour(await readings.intervals(machine, from, to), watts, from, to) : null);
    }
    const query = { from, to, ...grouping, ...(own === undefined ? {} : { key: own }) };
    const { rows, totals } = usageReport(hours, query, { tz, energyByHour: (machine) => energy.get(machine) ?? null });
    const groupBy = grouping.bucket ? [...grouping.groupBy, grouping.bucket] : grouping.groupBy;
    if (format === "csv") {
      return c.body(toCsv(groupBy, rows), 200, {
        "content-type": "text/csv; charset=utf-8",
        "content-disposition": 'attachment; filename="usage.csv"',
      });
    }
    return c.json({ from: new Date(from).toISOString(), to: new Date(to).toISOString(), tz, group_by: groupBy, rows, totals }, 200);
  });
}

/** A header row, then one line per row (RFC 4180: CRLF, quoted when needed). */
function toCsv(groupBy: string[], rows: UsageRow[]): string {
  const columns = [...groupBy, ...SUM_FIELDS];
  const lines = [columns.join(",")];
  for (const r of rows) lines.push(columns.map((col) => cell((r as unknown as Record<string, unknown>)[col])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "number") return String(v);
  let s = String(v);
  // A person's name comes from a client's header: one that starts like a formula is kept as text by a spreadsheet.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
