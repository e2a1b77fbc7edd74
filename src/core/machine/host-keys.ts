import { createHash } from "node:crypto";
import { rename } from "node:fs/promises";
import { writeJsonAtomic } from "../../lib/atomic-file.ts";

/** The same text `ssh-keygen -lf` prints: SHA256 of the public key blob, base64 without padding. */
export function fingerprint(publicKeyBlob: Uint8Array): string {
  return "SHA256:" + createHash("sha256").update(publicKeyBlob).digest("base64").replace(/=+$/, "");
}

const sameFingerprint = (a: string, b: string) => a.replace(/=+$/, "") === b.replace(/=+$/, "");

export type HostKeyVerdict = { ok: true; recorded?: boolean } | { ok: false; reason: string };

export interface HostKeyPolicy {
  /** Pinned fingerprint: anything else is refused. */
  pinned?: string;
  /** Trust-on-first-use record, used when nothing is pinned. */
  knownHostsFile: string;
}

/** Decides whether the key a server presented is the one we trust, recording it on first use. */
export async function checkHostKey(policy: HostKeyPolicy, hostId: string, presented: string): Promise<HostKeyVerdict> {
  if (policy.pinned) {
    if (sameFingerprint(policy.pinned, presented)) return { ok: true };
    return {
      ok: false,
      reason: `SSH host key of ${hostId} is ${presented}, which does not match SSH_HOST_FINGERPRINT; refusing to connect`,
    };
  }
  const known = await readKnown(policy.knownHostsFile);
  const previous = known[hostId];
  if (previous === undefined) {
    known[hostId] = presented;
    await writeJsonAtomic(policy.knownHostsFile, known);
    return { ok: true, recorded: true };
  }
  if (sameFingerprint(previous, presented)) return { ok: true };
  return {
    ok: false,
    reason:
      `SSH host key of ${hostId} changed: recorded ${previous}, now presented ${presented}. ` +
      `If the machine was reinstalled, accept the new key by setting SSH_HOST_FINGERPRINT=${presented} ` +
      `or by removing the "${hostId}" entry from ${policy.knownHostsFile}`,
  };
}

async function readKnown(file: string): Promise<Record<string, string>> {
  const f = Bun.file(file);
  if (!(await f.exists())) return {};
  try {
    const data = await f.json();
    if (data && typeof data === "object" && !Array.isArray(data)) return data as Record<string, string>;
  } catch {
    // Not JSON: handled below.
  }
  // A damaged record must not lock us out for ever; it is kept aside, visibly, and trust starts over.
  await rename(file, `${file}.corrupt-${Date.now()}`);
  return {};
}
