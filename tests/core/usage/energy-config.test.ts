// The energy settings: power_watts and power_meter per machine, POWER_WATTS_ON/OFF for the one machine, the price
// and currency; nothing is defaulted into watts, and a meter's headers are secrets.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { parseConfig } from "../../../src/config/config.ts";
import { secretsOf } from "../../../src/config/view.ts";
import { tempDir } from "../../helpers.ts";

const minimal = { EQUIPO_IA: "ia.lan", IA_MAC: "AA:BB:CC:DD:EE:FF", API_KEYS: "key-one-1" };
const errorsOf = (r: ReturnType<typeof parseConfig>) => (r.ok ? [] : r.errors);

describe("energy settings", () => {
  test("one machine: POWER_WATTS_ON and POWER_WATTS_OFF together; unset, no watts at all; EUR and no price by default", () => {
    const none = parseConfig(minimal);
    if (!none.ok) throw new Error(none.errors.join("\n"));
    expect(none.config.machine.powerWatts).toBeUndefined();
    expect(none.config.energy).toEqual({ pricePerKwh: null, currency: "EUR" });

    const set = parseConfig({ ...minimal, POWER_WATTS_ON: "250", POWER_WATTS_OFF: "3.5", ENERGY_PRICE_PER_KWH: "0.31", ENERGY_CURRENCY: "CHF" });
    if (!set.ok) throw new Error(set.errors.join("\n"));
    expect(set.config.machine.powerWatts).toEqual({ on: 250, off: 3.5 });
    expect(set.config.energy).toEqual({ pricePerKwh: 0.31, currency: "CHF" });

    expect(errorsOf(parseConfig({ ...minimal, POWER_WATTS_ON: "250" }))).toEqual([
      "POWER_WATTS_OFF: required with the other: set both POWER_WATTS_ON and POWER_WATTS_OFF, or neither",
    ]);
    expect(errorsOf(parseConfig({ ...minimal, POWER_WATTS_ON: "lots", POWER_WATTS_OFF: "-1" }))).toEqual([
      "POWER_WATTS_ON: expected watts, a number such as 250",
      "POWER_WATTS_OFF: expected 0 or more watts",
    ]);
    expect(errorsOf(parseConfig({ ...minimal, ENERGY_PRICE_PER_KWH: "cheap", ENERGY_CURRENCY: "Swiss francs" }))).toHaveLength(2);
  });

  test("machines file: power_watts and power_meter per machine, a slip named with its nearest key; the meter's token is a secret", async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, "machines.yaml");
      const write = (extra: string) =>
        Bun.write(file, `machines:\n  - name: big\n    host: 127.0.0.1\n    power_on: { http: { url: "http://127.0.0.1:9/on" } }\n${extra}`);
      const env = { API_KEYS: "key-one-1", MACHINES_FILE: file };
      await write(
        '    power_watts: { on: 300, off: 4 }\n    power_meter:\n      url: "http://127.0.0.1:9/api/states/sensor.big"\n      field: state\n      headers: { Authorization: "Bearer literal-token-1234", Accept: application/json }\n',
      );
      const r = parseConfig(env);
      if (!r.ok) throw new Error(r.errors.join("\n"));
      expect(r.config.machine.powerWatts).toEqual({ on: 300, off: 4 });
      expect(r.config.machine.powerMeter).toEqual({
        url: "http://127.0.0.1:9/api/states/sensor.big",
        field: "state",
        headers: { Authorization: "Bearer literal-token-1234", Accept: "application/json" },
      });
      const secrets = secretsOf(r.config);
      expect(secrets).toContain("Bearer literal-token-1234");
      expect(secrets).toContain("literal-token-1234");
      expect(secrets).not.toContain("application/json");

      await write("    power_watts: { on: 300, offf: 4 }\n");
      expect(errorsOf(parseConfig(env)).join("\n")).toContain("did you mean off?");
      await write('    power_meter: { url: "http://127.0.0.1:9/status", field: "meters..power" }\n');
      expect(errorsOf(parseConfig(env)).join("\n")).toContain("expected a dotted path to the watts");
      await write('    power_meter: { url: "http://127.0.0.1:9/status", field: meters.0.power }\n');
      expect(errorsOf(parseConfig(env))).toContain("MACHINES_FILE machines[0] (big).power_meter: needs power_watts (on and off) beside it");
      // The one machine's variables describe no machine of a file.
      await write("");
      expect(errorsOf(parseConfig({ ...env, POWER_WATTS_ON: "1", POWER_WATTS_OFF: "1" })).join("\n")).toContain(
        "set together with POWER_WATTS_ON, POWER_WATTS_OFF",
      );
    } finally {
      cleanup();
    }
  });
});
