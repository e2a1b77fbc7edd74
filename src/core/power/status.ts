// The status file's shape, defined once: the store validates with it, the leases module and the API's
// schemas derive from it. Loose on purpose, in both directions between versions: an older file without
// the newer fields loads, and so does a newer file with fields or words this version does not know.
//
// It is the old service's file format, so it keeps the old service's names, misspellings included (a file
// of v0.1.0 must keep loading): `peticions_ollama` is what the rest of core calls `leases` (the number of
// live leases) and `phisical_on` what it calls `physicallyOn`. In core only this file spells the old names
// (and /metrics' help text, which names one for those who read the wire); the rest of core reads and writes
// them through the helpers at the end, and routes/ put them on the wire. Glossary: README "How it is built".
import { z } from "zod";
import { PowerState, ShutdownReason } from "./states.ts";

// Loose, and lenient where a newer version could leave a field out: a lease it wrote keeps its own fields.
export const LeaseSchema = z.looseObject({
  id: z.string(),
  holder: z.string().nullable().default(null),
  taken_at: z.string(),
  /** null: never expires (the old service's behaviour). */
  expires_at: z.string().nullable().default(null),
});
export type Lease = z.infer<typeof LeaseSchema>;

export const statusSchema = z.looseObject({
  logical_on: z.boolean(),
  phisical_on: z.boolean(),
  peticions_ollama: z.number().int().min(0),
  permanent_on: z.boolean(),
  message: z.string(),
  datetime: z.string(),
  // Added by the power orchestration; absent from files the old service wrote. A state or a reason this
  // version does not know (a newer one wrote it) reads as absent: the monitor probes again anyway, and the
  // leases and counters beside it are kept. Only a word is read so; a value of the wrong type is corruption.
  power_state: z.union([z.enum(PowerState), z.string().transform(() => undefined)]).optional(),
  leases: z.array(LeaseSchema).optional(),
  woken_by_gateway: z.boolean().optional(),
  shutdown_deferred: z
    .union([z.enum(ShutdownReason), z.string().transform(() => null)])
    .nullable()
    .optional(),
  last_wake_at: z.string().nullable().optional(),
  last_ready_at: z.string().nullable().optional(),
  last_shutdown_at: z.string().nullable().optional(),
  /** When power_state began, and how far the wake under way has gone: what a replica taking over carries on from. */
  power_state_since: z.string().nullable().optional(),
  wake_packets: z.number().int().min(0).optional(),
  wake_last_packet_at: z.string().nullable().optional(),
  /** Among replicas: a wake asked for during a shutdown, sent once the machine is dark. */
  wake_after_shutdown: z.boolean().optional(),
});
export type Status = z.infer<typeof statusSchema>;

/** The number of live leases (the file's `peticions_ollama`): the old service's anonymous ones included. */
export const leaseCount = (s: Pick<Status, "peticions_ollama">): number => s.peticions_ollama;

/** Whether the machine answers, Ollama or not (the file's `phisical_on`). */
export const physicallyOn = (s: Pick<Status, "phisical_on">): boolean => s.phisical_on;

/** What holds the machine on, as the file says it: its leases and permanent_on. */
export type Holds = Pick<Status, "peticions_ollama" | "permanent_on">;

/** The fields to store for a list of leases: the list and its count, always together. */
export const withLeases = (leases: Lease[]) => ({ leases, peticions_ollama: leases.length });

/** The old service's two flags, as core says them. */
export interface PowerFlags {
  physicallyOn: boolean;
  logicallyOn: boolean;
}

/** The fields to store for the two flags. */
export const flagFields = (f: PowerFlags) => ({ phisical_on: f.physicallyOn, logical_on: f.logicallyOn });
