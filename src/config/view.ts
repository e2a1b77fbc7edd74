// The configuration as it may be shown or searched for secrets: what /debug prints, what the redactor blanks.

import { mqttSecrets } from "./mqtt.ts";
import { notifySecrets } from "./notify.ts";
import { stateSecrets } from "./state.ts";
import type { Config, MachineConfig } from "./types.ts";

const PLAIN_HEADERS = new Set(["accept", "content-type", "user-agent"]);

/** Every secret value in the configuration, so the logger and error paths can blank them out. */
export function secretsOf(config: Config): string[] {
  const ssh = config.machines.flatMap((m) => [m.ssh.password, m.ssh.sudoPassword]);
  const notify = notifySecrets(config.notify);
  // A power meter's headers carry its token ("Bearer …"): the whole value and the token after the scheme
  // (not the few that never hold one, whose values are common words in any log line).
  const meters = config.machines.flatMap((m) =>
    Object.entries(m.powerMeter?.headers ?? {})
      .filter(([name]) => !PLAIN_HEADERS.has(name.toLowerCase()))
      .flatMap(([, v]) => [v, v.replace(/^\S+\s+/, "")]),
  );
  const mqtt = mqttSecrets(config.mqtt);
  const state = stateSecrets(config.state);
  return [...ssh, ...config.fileSecrets, ...config.apiKeys, ...notify, ...meters, ...mqtt, ...state].filter(
    (s): s is string => typeof s === "string" && s.length > 0,
  );
}

/** The configuration as it may be shown: secrets replaced by whether they are set. */
export function describeConfig(config: Config) {
  const m: MachineConfig = config.machine;
  return {
    EQUIPO_IA: m.host,
    IA_MAC: m.mac ?? null,
    OLLAMA_PORT: m.ollamaPort,
    SSH_USER: m.ssh.user ?? null,
    SSH_PORT: m.ssh.port,
    SSH_PASS_SET: Boolean(m.ssh.password),
    SSH_SUDO_PASS_SET: Boolean(m.ssh.sudoPassword),
    SSH_KEY_PATH_SET: Boolean(m.ssh.keyPath),
    SSH_HOST_FINGERPRINT: m.ssh.hostFingerprint ?? null,
    SHUTDOWN_COMMAND: m.shutdownCommand,
    WOL_BROADCAST: m.wol.address,
    WOL_PORT: m.wol.port,
    API_KEYS_SET: config.apiKeys.length > 0,
    API_KEYS_COUNT: config.apiKeys.length,
    SUBDOMINIO: config.subdomain ?? null,
    HOST: config.listen.host,
    PORT: config.listen.port,
    STATUS_FILE: m.statusFile,
    PROBE_TIMEOUT_MS: m.probeTimeoutMs,
    PROXY_TIMEOUT_GENERATE_S: m.proxyTimeoutsMs.generate / 1000,
    PROXY_TIMEOUT_PULL_S: m.proxyTimeoutsMs.pull / 1000,
    PROXY_TIMEOUT_DEFAULT_S: m.proxyTimeoutsMs.default / 1000,
    POLL_S: m.power.pollMs / 1000,
    AUTO_WAKE: m.power.autoWake,
    WAKE_TIMEOUT_S: m.power.wakeTimeoutMs / 1000,
    WOL_RETRY_S: m.power.wolRetryMs / 1000,
    LEASE_TTL_S: m.power.leaseTtlS,
    IDLE_SHUTDOWN_MIN: m.power.idleShutdownMs / 60_000,
    IDLE_SHUTDOWN_ANY: m.power.idleShutdownAny,
    METRICS_PUBLIC: config.metricsPublic,
    MAX_BODY_MB: config.maxBodyBytes / 1048576,
    MAX_LEASES: m.power.maxLeases,
    KEEP_ON_SCHEDULE: (m.keepOn ?? []).map((w) => ({ name: w.name, cron: w.cron, for_min: w.forMin })),
    WEBHOOK_URLS_COUNT: config.notify.webhookUrls.length,
    WEBHOOK_EVENTS: config.notify.events,
    NTFY_URL_SET: Boolean(config.notify.ntfyUrl),
    NTFY_TOKEN_SET: Boolean(config.notify.ntfyToken),
    // The URL holds the broker's password: only whether it is set.
    MQTT_URL_SET: Boolean(config.mqtt),
    MQTT_PREFIX: config.mqtt?.prefix ?? null,
    MQTT_DISCOVERY_PREFIX: config.mqtt?.discoveryPrefix ?? null,
    MQTT_ROLE: config.mqtt?.role ?? null,
    // The URL may hold the store's password: only whether it is set.
    STATE_URL_SET: Boolean(config.state),
    STATE_PREFIX: config.state?.prefix ?? null,
    REPLICA_NAME: config.state?.replica ?? null,
    LEADER_TTL_S: config.state ? config.state.leaderTtlMs / 1000 : null,
    USAGE_DB: config.usage.db,
    USAGE_RETENTION_DAYS: config.usage.retentionDays,
    POWER_WATTS_ON: m.powerWatts?.on ?? null,
    POWER_WATTS_OFF: m.powerWatts?.off ?? null,
    // Its URL may carry a token in its query, its headers one: only whether it is set.
    POWER_METER_SET: Boolean(m.powerMeter),
    ENERGY_PRICE_PER_KWH: config.energy.pricePerKwh,
    ENERGY_CURRENCY: config.energy.currency,
    MACHINES: config.machines.map((x) => x.name),
  };
}
