import { z } from "@hono/zod-openapi";
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
