import { z } from "@hono/zod-openapi";
import { Role } from "../config/types.ts";
import type { ApiKey } from "../core/access/access.ts";
import type { LoadedModel } from "../core/machine/loaded-models.ts";
import type { Holders } from "../core/power/operations.ts";
import { IdleOff } from "../core/power/rules.ts";
import { LeaseSchema as Lease } from "../core/power/status.ts";
import type { MachineQueue } from "../core/queue/machine-queue.ts";

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

/** A model in a machine's memory, as its Ollama's /api/ps said at the last probe while the machine was on. */
export const LoadedModelSchema = z
  .object({
    model: z.string(),
    size_vram: z.number().int().openapi({ description: "Bytes of it in the GPU's memory" }),
    expires_at: z.string().nullable().openapi({ description: "When Ollama unloads it unless it is used again (ISO-8601 UTC); null: not said" }),
  })
  .openapi("LoadedModel");

export const loadedWire = (models: readonly LoadedModel[]) => models.map((m) => ({ model: m.model, size_vram: m.sizeVram, expires_at: m.expiresAt }));

/** A machine's queue (max_concurrent): what runs, and who waits where. */
export const QueueFields = {
  running: z.number().int().openapi({ description: "Generations holding one of its max_concurrent slots now (0 without max_concurrent)" }),
  queue_length: z.number().int().openapi({ description: "Requests waiting in its queue" }),
  queue: z
    .array(z.object({ key: z.string(), position: z.number().int(), waited_s: z.number() }))
    .openapi({ description: "The waiting requests in the order they will run (1 next); an admin sees every key's, any other key its own" }),
};

/** The queue as `key` may see it: an admin every entry, any other key its own requests' places (and the length). */
export function queueWire(queue: MachineQueue, key: ApiKey | undefined) {
  const entries = queue.entries();
  const mine = !key || key.role === Role.admin ? entries : entries.filter((e) => e.key === key.name);
  return {
    running: queue.running,
    queue_length: entries.length,
    queue: mine.map((e) => ({ key: e.key, position: e.position, waited_s: e.waitedS })),
  };
}

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
