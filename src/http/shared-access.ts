// What the replicas share of who may come in and how much (STATE_URL): the dashboard's sessions, the login limits
// and each key's limits, all in Redis through the one SharedStore. deps.ts builds these instead of the file store
// and the in-memory counts when config.state is set; the routes see the same interfaces either way.
import { SharedKeyLimiter } from "../core/access/shared-limits.ts";
import { SharedSessions } from "../core/access/shared-sessions.ts";
import type { SharedStore } from "../core/replica/store.ts";
import type { Logger } from "../core/telemetry/logger.ts";
import { SharedLoginRate, SharedLoginThrottle } from "./shared-throttle.ts";

export interface SharedAccessOptions {
  /** The identities (sha256 of each key) that may log in now: keys.ring.identities, read at each use. */
  identities: () => readonly string[];
  logger: Logger;
  now?: () => number;
  /** The zone quotas' days and months are in; the process's (TZ) by default. */
  tz?: string;
}

export interface SharedAccess {
  ui: { sessions: SharedSessions; throttle: SharedLoginThrottle; logins: SharedLoginRate };
  limits: SharedKeyLimiter;
}

export function buildSharedAccess(store: SharedStore, o: SharedAccessOptions): SharedAccess {
  const now = o.now ?? Date.now;
  return {
    ui: {
      sessions: new SharedSessions({ store, keys: o.identities, logger: o.logger, now }),
      throttle: new SharedLoginThrottle(store, now),
      logins: new SharedLoginRate(store, now),
    },
    limits: new SharedKeyLimiter({ store, logger: o.logger, now, tz: o.tz }),
  };
}
