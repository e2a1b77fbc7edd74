// Commands from Home Assistant (`<prefix>/<machine>/<command>/set`): each is what the HTTP route for the same
// action does, with the same rules. The role MQTT_ROLE is checked as an API key of that role is checked on
// POST /machines/{name}/<action>, and the work runs as the key named "mqtt", so its events say `key: "mqtt"`.
// Anything else that arrives (an unknown machine or command, a payload that is not the button's or the
// switch's) is ignored with a log line; nothing here keeps anything per topic.
import type { Role } from "../../config/types.ts";
import { actingFor } from "../../lib/actor.ts";
import { refusal } from "../access/access.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { HaUnit } from "./readings.ts";
import { Command, HA_HOLDER, OFF, ON, PRESS, type Topics } from "./topics.ts";

/** Who the commands act as: the name their events and log lines carry. */
export const MQTT_ACTOR = "mqtt";

/** The HTTP route each command is the same action as, whose role rules it follows. */
const ROUTE: Record<Command, string> = { wake: "wake", release: "release", shutdown: "shutdown", keep_on: "permanent_on" };

/** Why `role` may not run this command on this machine, or null when it may: the HTTP route's own answer. */
export const commandRefusal = (role: Role, machine: string, command: Command): string | null =>
  refusal(role, "POST", `/machines/${encodeURIComponent(machine)}/${ROUTE[command]}`);

/** Whether the payload is what Home Assistant sends for this command: PRESS for a button, ON or OFF for the switch. */
export const payloadFits = (command: Command, payload: string): boolean =>
  command === Command.keepOn ? payload === ON || payload === OFF : payload === PRESS;

export interface CommandOptions {
  topics: Topics;
  units: ReadonlyMap<string, HaUnit>;
  role: Role;
  logger: Logger;
}

// A broker anyone on the LAN may publish to can send anything, as fast as it likes: the lines saying what was
// ignored are capped per minute, so a flood costs a few lines, not the log.
const IGNORED_LINES_PER_MIN = 20;

export class Commands {
  /** The commands running now, one per machine and command at most: a second press meanwhile is ignored. */
  private readonly running = new Set<string>();
  private ignoredLines = 0;
  private ignoredSince = 0;

  constructor(private readonly o: CommandOptions) {}

  /** One message on a command topic; never throws. Resolves once the command has run (tests wait on it). */
  async message(topic: string, raw: Buffer | string, retained = false): Promise<void> {
    // A press published with retain is kept by the broker and would come again at every connect: a shutdown at each start.
    if (retained) return this.ignored(`a retained message on ${topic.slice(0, 128)}: commands are never retained`);
    const parsed = this.o.topics.parseCommand(topic);
    if ("ignored" in parsed) return this.ignored(parsed.ignored);
    const { machine, command } = parsed;
    const unit = this.o.units.get(machine);
    if (!unit) return this.ignored(`no machine is named ${machine.slice(0, 64)}`);
    const payload = String(raw).trim();
    if (!payloadFits(command, payload))
      return this.ignored(`${command} on ${machine}: expected ${command === Command.keepOn ? `${ON} or ${OFF}` : PRESS}`);
    const refused = commandRefusal(this.o.role, machine, command);
    if (refused) return this.capped("MQTT command refused", { machine, command, role: this.o.role, reason: refused });
    const id = `${machine}/${command}`;
    if (this.running.has(id)) return this.ignored(`${command} on ${machine}: the last one is still running`);
    this.running.add(id);
    try {
      await actingFor(MQTT_ACTOR, () => this.run(unit, command, payload));
    } catch (err) {
      this.o.logger.warn("MQTT command failed", { machine, command, error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.running.delete(id);
    }
  }

  private ignored(why: string): void {
    this.capped("MQTT message ignored", { why });
  }

  /** A warning, unless this minute has had its share: a broker anyone may publish to costs a few lines, not the log. */
  private capped(message: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.ignoredSince >= 60_000) {
      if (this.ignoredLines > IGNORED_LINES_PER_MIN) {
        this.o.logger.warn("MQTT messages ignored or refused without a log line", { count: this.ignoredLines - IGNORED_LINES_PER_MIN });
      }
      this.ignoredSince = now;
      this.ignoredLines = 0;
    }
    if (++this.ignoredLines <= IGNORED_LINES_PER_MIN) this.o.logger.warn(message, fields);
  }

  /**
   * The action itself: what the HTTP route calls. The leases held by `home-assistant` are the buttons': Wake takes
   * one when there is none, Release gives back each (README: a REST client of Home Assistant's has its own name).
   */
  private async run(unit: HaUnit, command: Command, payload: string): Promise<void> {
    const { power } = unit;
    const ours = async () => (await power.holders()).leases.filter((l) => l.holder === HA_HOLDER);
    switch (command) {
      case Command.wake: {
        // One lease per press would leave several for one Release to give back: a second press only wakes again.
        if ((await ours()).length > 0) {
          await unit.monitor.probeAndWake("Wake pressed in Home Assistant");
          return;
        }
        const r = await power.takeLease({ holder: HA_HOLDER });
        this.o.logger.info("MQTT: lease taken", { machine: unit.name, lease_id: r.lease.id, holder: HA_HOLDER });
        return;
      }
      case Command.release: {
        const leases = await ours();
        if (leases.length === 0) return this.capped("MQTT: no lease to release", { machine: unit.name, holder: HA_HOLDER });
        for (const l of leases) await power.release(l.id);
        return;
      }
      case Command.shutdown:
        await power.forceShutdown();
        return;
      case Command.keepOn:
        await power.setPermanent(payload === ON);
        return;
    }
  }
}
