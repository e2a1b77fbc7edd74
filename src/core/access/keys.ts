import { type FSWatcher, watch } from "node:fs";
import { basename, dirname } from "node:path";
import { allKeys } from "../../config/keys-file.ts";
import type { Config } from "../../config/types.ts";
import type { Logger } from "../telemetry/logger.ts";
import { KeyRing } from "./access.ts";

/**
 * The keys in force. KEYS_FILE is read again on SIGHUP: a revoked key stops working at once, proxied
 * streams already running go on, those who listen (the event streams) hear of it, and a file with a
 * problem keeps the keys as they were (the log says why).
 */
export class Keys {
  ring: KeyRing;
  private readonly listeners = new Set<() => void>();
  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    /** Hears of the secrets a reload brings, for the redactors of logs and events. */
    private readonly newSecrets: (secrets: string[]) => void = () => {},
  ) {
    this.ring = new KeyRing(config.keys);
  }

  /**
   * Re-reads KEYS_FILE when it changes. The directory is watched, not the file: editors and `mv` replace
   * the file, and a watch on it would follow the old one. A burst of changes makes one reload.
   */
  watch(): () => void {
    const file = this.config.keysFile;
    if (!file) return () => {};
    let soon: ReturnType<typeof setTimeout> | undefined;
    let watcher: FSWatcher;
    try {
      watcher = watch(dirname(file), (_event, name) => {
        if (name !== basename(file)) return;
        clearTimeout(soon);
        soon = setTimeout(() => this.reload(), 200);
      });
    } catch (err) {
      this.logger.warn("KEYS_FILE cannot be watched; send SIGHUP to reload it", { err });
      return () => {};
    }
    watcher.unref?.();
    return () => {
      clearTimeout(soon);
      watcher.close();
    };
  }

  /** Called after each successful reload, the new keys in force; returns the unsubscribe. */
  onReload(listener: () => void): () => void {
    const once = () => listener(); // wrapped: a listener added twice is called twice, and each unsubscribe removes its own
    this.listeners.add(once);
    return () => void this.listeners.delete(once);
  }

  /** Re-reads KEYS_FILE; true when the new keys are in force. */
  reload(env: Record<string, string | undefined> = process.env): boolean {
    const file = this.config.keysFile;
    if (!file) return false;
    const loaded = allKeys(this.config.envApiKeys, file, env, this.config.machines, this.config.usage.db !== null);
    if (!loaded.ok) {
      this.logger.error("KEYS_FILE not reloaded: the keys stay as they were", { problems: loaded.errors });
      return false;
    }
    this.newSecrets(loaded.plain);
    this.ring = new KeyRing(loaded.keys);
    this.logger.info("KEYS_FILE reloaded", { keys: loaded.keys.map((k) => `${k.name} (${k.role})`) });
    for (const l of [...this.listeners]) {
      try {
        l();
      } catch (err) {
        this.logger.error("a listener to the keys' reload failed", { err });
      }
    }
    return true;
  }
}
