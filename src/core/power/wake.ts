import type { Machine } from "../machine/machine.ts";
import type { EventSink } from "../telemetry/events.ts";
import { EventType } from "../telemetry/events.ts";
import type { Logger } from "../telemetry/logger.ts";
import type { PowerTelemetry } from "./telemetry.ts";

// A machine that misses the first packet gets a few more; past that, a wake that has not worked will not.
const MAX_RESENDS = 3;

export interface WakeOptions {
  machine: Machine;
  events: EventSink;
  logger: Logger;
  telemetry: PowerTelemetry;
  /** How long a wake may take before it is given up. */
  timeoutMs: number;
  /** Resend the packet this often while the machine stays dark. */
  retryMs: number;
}

/** One wake, from the first magic packet to Ollama answering (or the timeout): its packets and its clock. */
export class WakeAttempt {
  private lastPacketAt: number;
  packets = 0;

  constructor(
    private readonly opts: WakeOptions,
    readonly startedAt: number,
  ) {
    this.lastPacketAt = startedAt;
  }

  timedOut(now: number): boolean {
    return now - this.startedAt >= this.opts.timeoutMs;
  }

  /** A resend is due while the host stays dark, a few times at most. */
  resendDue(now: number, hostAnswers: boolean): boolean {
    return !hostAnswers && now - this.lastPacketAt >= this.opts.retryMs && this.packets <= MAX_RESENDS;
  }

  /** A packet that cannot be sent (no route, no interface) is logged; the resend and the timeout still apply. */
  async send(now: number): Promise<void> {
    const { machine, events, logger, telemetry } = this.opts;
    this.packets++;
    this.lastPacketAt = now;
    try {
      await machine.wake();
    } catch (err) {
      logger.error("could not send the magic packet", { err, to: machine.wolTarget });
      events.emit(EventType.wakeFailed, { attempt: this.packets, detail: (err as Error).message });
      return;
    }
    telemetry.packetSent();
    events.emit(EventType.wakeSent, { attempt: this.packets });
  }

  secondsSince(now: number): number {
    return (now - this.startedAt) / 1000;
  }
}
