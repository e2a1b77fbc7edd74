// The replicas' settings (config/state.ts): STATE_URL a secret shown nowhere, one line per bad value, the defaults.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/config.ts";
import { describeConfig, secretsOf } from "../../src/config/view.ts";

const minimal = { EQUIPO_IA: "ia.lan", IA_MAC: "AA:BB:CC:DD:EE:FF", API_KEYS: "key-one-1" };

describe("STATE_URL and the rest", () => {
  test("unset: one gateway, nothing shared; set: the defaults, and the URL and its password are secrets shown nowhere", () => {
    const none = parseConfig(minimal);
    if (!none.ok) throw new Error(none.errors.join("\n"));
    expect(none.config.state).toBeNull();
    expect(describeConfig(none.config)).toMatchObject({ STATE_URL_SET: false, REPLICA_NAME: null });

    const set = parseConfig({ ...minimal, STATE_URL: "redis://:st%40te-pw-88@redis:6379/0", REPLICA_NAME: "gateway-a" });
    if (!set.ok) throw new Error(set.errors.join("\n"));
    expect(set.config.state).toEqual({ url: "redis://:st%40te-pw-88@redis:6379/0", prefix: "ollama-gate:", replica: "gateway-a", leaderTtlMs: 5000 });
    const secrets = secretsOf(set.config);
    expect(secrets).toContain("st%40te-pw-88");
    expect(secrets).toContain("st@te-pw-88");
    const shown = JSON.stringify(describeConfig(set.config));
    expect(shown).not.toContain("te-pw-88");
    expect(describeConfig(set.config)).toMatchObject({
      STATE_URL_SET: true,
      STATE_PREFIX: "ollama-gate:",
      REPLICA_NAME: "gateway-a",
      LEADER_TTL_S: 5,
    });
  });

  test("without REPLICA_NAME, the host name, made fit for a key", () => {
    const r = parseConfig({ ...minimal, STATE_URL: "rediss://redis.lan:6380" });
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(r.config.state?.replica).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/);
  });

  test("a bad value is one line each, never quoting the URL", () => {
    const r = parseConfig({ ...minimal, STATE_URL: "http://:secret-pw-9@redis", STATE_PREFIX: "a b", REPLICA_NAME: "gate way", LEADER_TTL_S: "0.5" });
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors).toEqual([
      "STATE_URL: expected a redis:// or rediss:// URL such as redis://:password@redis:6379/0",
      "STATE_PREFIX: expected a key prefix without spaces or * ? [ ], such as ollama-gate:",
      "REPLICA_NAME: expected letters, digits, '.', '_' or '-' (at most 63), such as gateway-a",
      "LEADER_TTL_S: expected at least 1 second",
    ]);
    expect(errors.join("\n")).not.toContain("secret-pw-9");
  });
});
