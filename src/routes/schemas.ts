import { z } from "@hono/zod-openapi";
import type { Holders } from "../core/power/operations.ts";
import { IdleOff } from "../core/power/rules.ts";
import { LeaseSchema as Lease } from "../core/power/status.ts";

export const StatusSchema = z
  .looseObject({
    logical_on: z.boolean().openapi({ description: "Ollama answers" }),
    phisical_on: z.boolean().openapi({ description: "The machine answers (spelling kept for compatibility)" }),
    peticions_ollama: z.number().int().openapi({ description: "Clients holding the machine on" }),
    permanent_on: z.boolean().openapi({ description: "When true, releases never shut the machine down" }),
    message: z.string().openapi({ description: "What happened last" }),
    datetime: z.string().openapi({ description: "Time of the last write, ISO-8601 UTC" }),
  })
  .openapi("Status");

export const ProbeSchema = z.object({ ok: z.boolean(), ms: z.number(), error: z.string().optional() }).openapi("Probe");

/** One lease: who holds the machine on, since when, until when (null: until released). */
export const LeaseSchema = Lease.openapi("Lease");

/** When idle shutdown switches the machine off if nothing else happens, or why it will not: added to the old fields. */
export const IdleShutdownFields = {
  idle_shutdown_at: z.string().nullable().openapi({
    description: "When the machine will be shut down for idleness if nothing else happens (ISO-8601 UTC); null: see idle_shutdown_off",
    example: "2026-11-25T10:30:00.000Z",
  }),
  idle_shutdown_off: z
    .enum(IdleOff)
    .nullable()
    .openapi({
      description:
        "Why there is no idle deadline: disabled (IDLE_SHUTDOWN_MIN is 0), switched_on_by_hand (and IDLE_SHUTDOWN_ANY is false), " +
        "held (a lease, Keep on, a running request or a waiting shutdown), not_on, no_power_off; null when idle_shutdown_at is set",
    }),
};

export function idleShutdownWire(d: Holders["idleShutdown"]) {
  return d.at === null
    ? { idle_shutdown_at: null, idle_shutdown_off: d.off }
    : { idle_shutdown_at: new Date(d.at).toISOString(), idle_shutdown_off: null };
}
