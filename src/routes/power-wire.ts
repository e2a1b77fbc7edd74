// What the lease and shutdown routes take and answer, shared by the old routes (power.ts) and the
// per-machine ones (machines.ts): one machine's PowerOperations in, the old service's bodies out.
import { z } from "@hono/zod-openapi";
import type { PowerOperations } from "../core/power/operations.ts";
import { PowerState } from "../core/power/states.ts";
import { alreadyReleasedMessage, forcedShutdownReply, leaseTakenMessage, permanentMessage, releaseMessage } from "./messages.ts";

const boolQuery = z
  .enum(["true", "false", "1", "0"])
  .transform((v) => v === "true" || v === "1")
  .optional();
const ttl = z.coerce
  .number()
  .min(0)
  .max(30 * 86_400)
  .openapi({ description: "Lease lifetime in seconds; 0 = no expiry. Default LEASE_TTL_S" });
const holder = z
  .string()
  .trim()
  .min(1)
  .max(100)
  // Leases of keep-on windows are told apart by this prefix: a client may not pass for one.
  .refine((h) => !h.startsWith("schedule:"), { message: "holders starting with schedule: belong to the keep-on windows" })
  .openapi({ description: "Who holds the lease, shown in GET /leases", example: "open-webui" });
const timeout = z.coerce.number().positive().max(3600).openapi({ description: "How long to wait; default WAKE_TIMEOUT_S" });

export const ArrancarQuery = z.object({
  ttl_s: ttl.optional(),
  holder: holder.optional(),
  wait: boolQuery.openapi({ description: "Answer only once Ollama is ready (or 504)" }),
  timeout_s: timeout.optional(),
});
export const ArrancarBody = z.object({ ttl_s: ttl.optional(), holder: holder.optional() });
export const ApagarQuery = z.object({
  lease_id: z.string().min(1).max(100).optional().openapi({ description: "The lease to release; default the oldest" }),
});
export const ApagarBody = z.object({ lease_id: z.string().min(1).max(100).optional() });

export const ArrancarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string(),
  peticions_ollama: z.number().int().openapi({ description: "Live leases, this one included" }),
  wol_sent: z.boolean().openapi({ description: "This call sent the magic packet (the machine was off)" }),
  lease_id: z.string().openapi({ description: "Release it with POST /apagar?lease_id=…" }),
  expires_at: z.string().nullable(),
  power_state: z.enum(PowerState),
});

export const ApagarSchema = z.object({
  success: z.boolean(),
  mensaje: z.string().openapi({ description: "What happened, or why the machine stays on" }),
  peticions_ollama: z.number().int(),
  shutdown_sent: z.boolean(),
  shutdown_deferred: z.boolean().openapi({ description: "The shutdown waits for running requests to finish" }),
  released: z.boolean().openapi({ description: "false when the named lease was already released (nothing changed)" }),
});

export const PermanentSchema = z.object({ success: z.boolean(), mensaje: z.string(), permanent_on: z.boolean() });
export const ShutdownSchema = z.object({
  success: z.boolean(),
  mensaje: z.string(),
  shutdown_sent: z.boolean(),
  shutdown_deferred: z
    .boolean()
    .openapi({ description: "The machine is still booting: the shutdown is sent once it is up, unless a lease is taken first" }),
});

// Optional, as JSON or as a form (`curl -d holder=cron`): old clients send no body, or an empty form.
export const optionalBody = <S extends z.ZodType>(schema: S) => ({
  content: { "application/json": { schema }, "application/x-www-form-urlencoded": { schema } },
  required: false,
});

/** Whichever body came, JSON or form, already validated; {} when there was none. */
export function bodyOf<T>(c: { req: { valid: (t: never) => unknown } }): Partial<T> {
  const valid = (target: string) => (c.req.valid as (t: string) => unknown)(target) ?? {};
  return { ...(valid("form") as object), ...(valid("json") as object) } as Partial<T>;
}

type LeaseRequest = Parameters<PowerOperations["takeLease"]>[0];

export async function leaseAnswer(power: PowerOperations, request: LeaseRequest) {
  const r = await power.takeLease(request);
  return {
    success: true,
    mensaje: leaseTakenMessage(r.wolSent, r.ready, r.powerState),
    peticions_ollama: r.leases,
    wol_sent: r.wolSent,
    lease_id: r.lease.id,
    expires_at: r.lease.expires_at,
    power_state: r.powerState,
  };
}

export async function releaseAnswer(power: PowerOperations, leaseId: string | undefined) {
  const { released, leases, decision } = await power.release(leaseId);
  // The old service's field order, which some clients print as is.
  const answer = (sent: boolean, deferred: boolean, mensaje: string) => ({
    success: true,
    peticions_ollama: leases,
    shutdown_sent: sent,
    shutdown_deferred: deferred,
    released: released !== null,
    mensaje,
  });
  if (!decision) return answer(false, false, alreadyReleasedMessage(leaseId!));
  return answer(decision.action === "shutdown", decision.action === "defer", releaseMessage(decision, leases));
}

export async function permanentAnswer(power: PowerOperations, enabled: boolean) {
  const permanent_on = await power.setPermanent(enabled);
  return { success: true, mensaje: permanentMessage(enabled), permanent_on };
}

export async function shutdownAnswer(power: PowerOperations) {
  const { sent, deferred } = await power.forceShutdown();
  return { success: true, mensaje: forcedShutdownReply(sent, deferred), shutdown_sent: sent, shutdown_deferred: deferred };
}
