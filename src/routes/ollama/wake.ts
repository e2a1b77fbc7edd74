// The wake and forward steps: wait for the machine when it sleeps, then hand the request to its proxy (which
// counts it in flight until its answer has ended: core/proxy/forward.ts).
import { ClientGoneError, MachineAsleepError, RETRY_AFTER_S, UnavailableError } from "../../core/errors.ts";
import { isUp } from "../../core/power/states.ts";
import type { ForwardOverrides } from "../../core/proxy/forward.ts";
import type { MachineUnit } from "../../deps.ts";
import { type ServerLike, setConnectionTimeout } from "../../http/server.ts";
import { streamWhileWaking, type WakeProgress } from "./wake-progress.ts";

/** One machine's part of a proxied request: its monitor to wake it, its proxy to reach it. */
export type Target = Pick<MachineUnit, "proxy" | "monitor" | "config" | "machine" | "activity">;

/** What forwarding reads of a request: the pipeline's call, or the same read from a Hono Context (legacy.ts). */
export interface Outgoing {
  /** The request as it goes on: its headers and body, its signal (the client leaving). */
  req: Request;
  /** The routed path (decoded, no /k/<key>), for the log lines. */
  path: string;
  /** The request as the server made it: Bun knows the connection by this object (its idle timeout). */
  raw: Request;
  server: ServerLike | undefined;
}

/** What the account step (account.ts) hears of the wait for a wake and of a failure that ends the request. */
export interface WaitWatch {
  waited(ms: number): void;
  failed(err: unknown): void;
}

/** A place in a machine's line that is still waiting (routes/ollama/share.ts): the wait comes before a wake. */
export interface Line {
  /** Settles when a slot is granted; rejects with a 503 (waited too long) or a 499 (the client left). */
  ready: Promise<void>;
  /** Leaves the line (a stream's reader that went away). */
  leave(): void;
  /** "queued on big, position 2 of 5" while it waits, for a waiting stream's comments; undefined once it runs. */
  where(): string | undefined;
  /** The request is being forwarded (the proxy counts it as running work now): the line's hold on the machine ends. */
  started(): void;
  /** Once `ready` settled: the machine that took it from the line instead (spill-over), if one did. */
  movedTo(): unknown;
}

/** Sets the idle timeout of the client's connection (0: none; see http/server.ts). */
export const connectionTimeout = (out: Pick<Outgoing, "server" | "raw">, seconds: number) => setConnectionTimeout(out.server, out.raw, seconds);

/**
 * With AUTO_WAKE, a request for a sleeping machine wakes it (one packet for all who wait) and waits until
 * Ollama answers. A waiting request counts as running work, so no release shuts the machine down under it.
 */
async function wakeFor(d: Target, req: Request, held?: () => void): Promise<void> {
  if (!(await mustWait(d))) return;
  if (req.signal.aborted) throw new ClientGoneError(); // nobody to wake it for
  const done = d.activity.begin();
  held?.(); // the wait holds the machine now: a place in its line need not (it would count twice)
  try {
    const ready = await Promise.race([d.monitor.ensureReady(d.config.power.wakeTimeoutMs), clientGone(req)]);
    if (!ready) {
      const waited = d.config.power.wakeTimeoutMs / 1000;
      throw new UnavailableError(`The AI machine was woken but did not become ready within ${waited} s`, RETRY_AFTER_S);
    }
  } finally {
    done();
  }
}

/**
 * Whether a request has to wait for a wake. A running machine whose Ollama is down is not helped by waiting:
 * the request fails fast. Known at once while the monitor knows the machine's state (every request but the
 * first): a promise only when it must look, so the common request does not pay for a step of its own.
 */
function mustWait(d: Target): boolean | Promise<boolean> {
  if (!d.monitor.known) return d.monitor.tick().then(() => !isUp(d.monitor.state));
  return !isUp(d.monitor.state);
}

/** Settles when the client hangs up, so nobody's request is sent to Ollama after they left. */
function clientGone(req: Request): Promise<never> {
  return new Promise((_, reject) => {
    const fail = () => reject(new ClientGoneError());
    if (req.signal.aborted) fail();
    else req.signal.addEventListener("abort", fail, { once: true });
  });
}

/**
 * Forwards a request, waking the machine first when it is known to sleep. If the machine turns out
 * to be asleep only when the request fails (the monitor had not noticed yet), it is woken and the
 * request sent once more — possible because small bodies were read beforehand. With `progress` (an OpenAI
 * streaming request), a wait is spent in the answer: its 200 at once, comments while the machine boots.
 */
export function forwardWaking(
  d: Target,
  out: Outgoing,
  target: string,
  given: ForwardOverrides,
  progress?: WakeProgress,
  watch?: WaitWatch,
  line?: Line,
): Promise<Response> {
  const answer = forwardOrWake(d, out, target, given, progress, watch, line);
  return !watch
    ? answer
    : answer.catch((err) => {
        watch.failed(err);
        throw err;
      });
}

async function forwardOrWake(
  d: Target,
  out: Outgoing,
  target: string,
  given: ForwardOverrides,
  progress?: WakeProgress,
  watch?: WaitWatch,
  line?: Line,
) {
  connectionTimeout(out, 0); // the proxy's own idle timeouts govern from here (up to an hour for a pull)
  // A connection nothing can be written to is idle: the server closes it a second later.
  const over = { ...given, hangUp: () => connectionTimeout(out, 1) };
  // The machine it goes to: the one chosen, or the one that took it from the line by spill-over (see Line).
  const at = { d };
  // The wait for a wake, timed for the usage record when it is kept.
  const wake = !watch
    ? (req: Request) => wakeFor(at.d, req, line?.started)
    : async (req: Request) => {
        const t = performance.now();
        try {
          await wakeFor(at.d, req, line?.started);
        } finally {
          watch.waited(performance.now() - t);
        }
      };
  const replayable = !(over.body instanceof ReadableStream);
  const send = async (req: Request) => {
    const { d } = at;
    try {
      const answer = d.proxy.forward(req, target, over); // counted as running work before it returns
      line?.started();
      return await answer;
    } catch (err) {
      if (!d.config.power.autoWake || !(err instanceof MachineAsleepError) || !replayable) throw err;
      await d.monitor.tick();
      await wake(req);
      return d.proxy.forward(req, target, over);
    }
  };
  if (line) {
    // Its turn in the machine's line first; a stream spends the wait in its answer, as it would a wake's.
    if (progress && replayable) return streamWhileWaiting(at, out, progress, watch, line, wake, send);
    await line.ready;
    at.d = (line.movedTo() as Target | undefined) ?? d;
  }
  const autoWake = at.d.config.power.autoWake;
  // A streamed body cannot be sent twice: make sure of the machine's state before sending it once.
  if (autoWake && !replayable) await at.d.monitor.tick();
  if (autoWake) {
    const wait = mustWait(at.d);
    if (wait === true || (wait !== false && (await wait))) {
      if (progress && replayable) return streamWhileWaiting(at, out, progress, watch, undefined, wake, send);
      await wake(out.req);
    }
  }
  return send(out.req);
}

/**
 * An OpenAI stream that waits (in the machine's line, for its wake, or both): its 200 at once, comments saying
 * its place while it is in line, then the wake's while the machine boots, then the answer, sent as
 * forwardOrWake would. Its failures become error events in its body: the account step hears of them here.
 */
function streamWhileWaiting(
  at: { d: Target },
  out: Outgoing,
  progress: WakeProgress,
  watch: WaitWatch | undefined,
  line: Line | undefined,
  wake: (req: Request) => Promise<void>,
  send: (req: Request) => Promise<Response>,
): Response {
  const fail = (err: unknown): never => {
    watch?.failed(err);
    throw err;
  };
  const waitFor = async (req: Request) => {
    if (line) {
      // The stream's own signal: its reader going away leaves the line at once.
      const left = () => line.leave();
      if (req.signal.aborted) left();
      else req.signal.addEventListener("abort", left, { once: true });
      try {
        await line.ready;
      } finally {
        req.signal.removeEventListener("abort", left);
      }
      at.d = (line.movedTo() as Target | undefined) ?? at.d;
    }
    if (at.d.config.power.autoWake) await wake(req);
  };
  // Once its turn came: the wake's comments while the machine boots, else the wait for Ollama's first answer.
  const after = () => (isUp(at.d.monitor.state) ? `waiting for ${at.d.config.name}'s answer` : `waking ${at.d.config.name}`);
  return streamWhileWaking(progress, {
    machine: at.d.config.name,
    req: out.req,
    path: out.path,
    wait: (req) => waitFor(req).catch(fail),
    forward: (req) => send(req).catch(fail),
    where: line && (() => line.where() ?? after()),
  });
}
