import { wholeSeconds } from "../../lib/durations.ts";
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

  /** A wake another replica started: its start and its packets so far, so a resend comes when it would have. */
  static resume(opts: WakeOptions, startedAt: number, packets: number, lastPacketAt: number): WakeAttempt {
    const wake = new WakeAttempt(opts, startedAt);
    wake.packets = packets;
    wake.lastPacketAt = lastPacketAt;
    return wake;
  }

  timedOut(now: number): boolean {
    return now - this.startedAt >= this.opts.timeoutMs;
  }

  /** A resend is due while the host stays dark, a few times at most. */
  resendDue(now: number, hostAnswers: boolean): boolean {
    return !hostAnswers && now - this.lastPacketAt >= this.opts.retryMs && this.packets <= MAX_RESENDS;
  }

  /**
   * Powers the machine on (a magic packet, a plug, a command). A failure is logged, told as an event and
   * counted, and returned: a packet that could not be sent is retried, a plug or command that failed is final.
   */
  async send(now: number): Promise<Error | null> {
    const { machine, events, logger, telemetry } = this.opts;
    const via = machine.powerOnKind;
    this.packets++;
    this.lastPacketAt = now;
    try {
      await machine.wake();
    } catch (err) {
      const what = via === "wol" ? "could not send the magic packet" : "could not power the machine on";
      logger.error(what, { err, to: machine.wolTarget });
      events.emit(EventType.wakeFailed, {
        attempt: this.packets,
        elapsed_s: wholeSeconds(now - this.startedAt),
        via,
        detail: (err as Error).message,
      });
      telemetry.powerAction("wake", via, false);
      return err as Error;
    }
    if (via === "wol") telemetry.packetSent();
    telemetry.powerAction("wake", via, true);
    // `via` says what was done (a packet, a plug, a command), as wake_failed does.
    events.emit(EventType.wakeSent, { attempt: this.packets, elapsed_s: wholeSeconds(now - this.startedAt), via });
    return null;
  }

  secondsSince(now: number): number {
    return (now - this.startedAt) / 1000;
  }
}
