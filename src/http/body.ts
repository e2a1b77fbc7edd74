import type { Context, MiddlewareHandler } from "hono";
import { ClientGoneError, PayloadTooLargeError, SlowBodyError, UnavailableError } from "../core/errors.ts";
import { currentActor } from "../lib/actor.ts";
import type { Reservation, ShareBudget } from "../lib/byte-budget.ts";
import { coarseDeadlines, type Deadlines } from "../lib/deadlines.ts";
import { type RateFloor, withRateFloor } from "../lib/rate-floor.ts";
import { clientAddress, clientOf } from "./throttle.ts";

/**
 * How bodies held in memory are bounded: per request (`maxBytes`), and all together — the first 64 KB of
 * each in `small`, the rest in `large`. Two pools, so that large bodies cannot crowd out everyday requests,
 * and a crowd of small ones is bounded too. Each key (or address) may hold only its share of each pool, and a
 * body that comes slower than `floor` is cut with 408: slow senders cannot keep the pools from the others.
 */
export interface BodyLimits {
  maxBytes: number;
  small: ShareBudget;
  large: ShareBudget;
  floor: RateFloor;
}

/** Bodies of Ollama's API up to this size (with a Content-Length) are read whole and checked; larger ones stream through. */
export const BUFFER_LIMIT = 1 << 20;

const megabytes = (bytes: number) => `${Math.round((bytes / 1048576) * 100) / 100} MB`;
const limitText = (max: number) => (max < 1048576 ? `${max / 1024} KB` : megabytes(max));

export function declaredLength(req: Request): number | null {
  const header = req.headers.get("content-length");
  const n = header === null ? NaN : Number(header);
  return Number.isFinite(n) && n >= 0 ? n : null;
}

export const tooLarge = (max: number, what: string) =>
  new PayloadTooLargeError(`The request body is larger than ${limitText(max)}, the limit for ${what}`);

const tooSlow = (floor: RateFloor) => () =>
  new SlowBodyError(`The request body came slower than ${limitText(floor.bytesPerSecond)}/s over ${floor.windowMs / 1000} s; the request was cut`);

/** An upload streamed through, cut with 408 once it comes slower than the floor (see withRateFloor). */
export const watchedUpload = (body: ReadableStream<Uint8Array>, floor: RateFloor) => withRateFloor(body, floor, tooSlow(floor));

/**
 * Whose share of the body pools a request counts against: its key's (every route that reads a body needs
 * one), or its address's (an IPv6 one by its /64, as the throttles count) when it came without.
 */
export function holderOf(c?: Context): string {
  return holderNamed(c?.get("apiKey")?.name ?? currentActor(), () => (c ? clientAddress(c) : "unknown"));
}

/** The same without Hono: a key's name, else the client's address. */
export const holderNamed = (key: string | undefined, address: () => string): string =>
  key !== undefined ? `key ${key}` : `address ${clientOf(address())}`;

/**
 * Refuses, from the Content-Length alone and before anything is read, a body over the limit of the
 * route it is for. Routes with no limit (null) stream their bodies.
 */
export function bodyLimit(limitFor: (path: string) => { maxBytes: number; what: string } | null): MiddlewareHandler {
  return (c, next) => {
    const limit = limitFor(c.req.path);
    const length = limit ? declaredLength(c.req.raw) : null;
    if (limit && length !== null && length > limit.maxBytes) throw tooLarge(limit.maxBytes, limit.what);
    return next();
  };
}

/**
 * Reads a whole body within the limits, having reserved memory for it first (as it arrives, when its
 * length is not known). The caller releases the reservation.
 */
export function readWhole(
  req: Request,
  limits: BodyLimits,
  what: string,
  opts: { objectOnly?: boolean; holder?: string } = {},
): Promise<{ bytes: Uint8Array; reservation: Reservation }> {
  const length = declaredLength(req);
  if (length !== null && length > limits.maxBytes) return Promise.reject(tooLarge(limits.maxBytes, what));
  let reservation: Reservation;
  try {
    reservation = reserve(limits, length ?? 0, opts.holder ?? holderOf());
  } catch (err) {
    return Promise.reject(err);
  }
  // Most proxied requests: small, of known length, read whole by the server. One promise, no async frames
  // around it (each costs an allocation and a turn per request; README, "Benchmarks").
  if (!opts.objectOnly && length !== null && length > 0 && withinOneWindow(length, limits.floor)) {
    return readWithin(req, length, limits.floor).then(
      (bytes) => ({ bytes, reservation }),
      (err) => {
        reservation.release();
        throw err;
      },
    );
  }
  return readCounted(req, length, limits, what, reservation, opts.objectOnly);
}

/** Any other body: one of unknown length counted, and refused, as it comes; one of known length was reserved whole. */
async function readCounted(req: Request, length: number | null, limits: BodyLimits, what: string, reservation: Reservation, objectOnly?: boolean) {
  try {
    if (length === null) return { bytes: await collect(req, limits, what, reservation, objectOnly), reservation };
    const bytes = await wholeBody(req, length, limits.floor);
    if (objectOnly && !startsLikeObject([], bytes)) throw new NotAnObject();
    return { bytes, reservation };
  } catch (err) {
    reservation.release();
    throw err;
  }
}

/**
 * Memory for a body of `bytes` (counted twice: the server underneath holds its own copy while we hold
 * ours), or a 503 at once: the server is already receiving the body of a request kept waiting, so
 * answering quickly is what frees it. The reservation grows as a body of unknown length arrives. It counts
 * against `holder`'s share of each pool.
 */
export function reserve(limits: BodyLimits, bytes: number, holder: string): Reservation {
  const split = (n: number) => ({ small: 2 * Math.min(n, FREE_BYTES), large: 2 * Math.max(0, n - FREE_BYTES) });
  const want = split(bytes);
  const small = limits.small.tryReserve(holder, want.small);
  const large = small && limits.large.tryReserve(holder, want.large);
  if (!small || !large) {
    small?.release();
    throw busy();
  }
  let held = bytes;
  return {
    tryGrow: (n) => {
      const next = split(held + n);
      const ok = small.tryGrow(next.small - split(held).small) && large.tryGrow(next.large - split(held).large);
      if (ok) held += n;
      return ok;
    },
    release: () => {
      small.release();
      large.release();
    },
  };
}

const FREE_BYTES = 64 * 1024;
const busy = () => new UnavailableError("The gateway is busy with other large request bodies; try again shortly", BUSY_RETRY_S);
const BUSY_RETRY_S = 2;

/**
 * A body of known length. One within a window's worth is read whole by the server (readWithin); a longer one
 * is read as it comes into one buffer of that size: its progress is watched like any other's (a body dribbled
 * a byte at a time is cut at the floor, not held for the minutes its length would allow), and no chunk
 * outlives its copy (chunks kept and joined at the end doubled the memory of a body).
 */
async function wholeBody(req: Request, length: number, floor: RateFloor): Promise<Uint8Array> {
  if (length > 0 && withinOneWindow(length, floor)) return readWithin(req, length, floor);
  const bytes = new Uint8Array(length);
  if (!req.body || length === 0) return bytes;
  const reader = watchedUpload(req.body, floor).getReader();
  let at = 0;
  for (;;) {
    const next = await nextChunk(reader, req);
    if (next.done) break;
    // Never more than the Content-Length (the server frames the body by it), but the buffer is not trusted to that.
    if (at + next.value.length > length) {
      reader.cancel().catch(() => {});
      throw gone(req);
    }
    bytes.set(next.value, at);
    at += next.value.length;
  }
  if (at < length) throw gone(req);
  return bytes;
}

/**
 * Whether a body of `length` bytes takes at most the floor's window at the floor's pace. For such a body the
 * floor is one deadline: whatever way its bytes are spread, the floor lets it take at most its grace and its
 * bytes' worth of time (each byte buys 1/bytesPerSecond s, and no more than a window can be banked anyway). A
 * longer body is read as it comes, so that one dribbled is cut once it falls behind, not at the end its length allows.
 */
export const withinOneWindow = (length: number, floor: RateFloor) => length * 1000 <= floor.bytesPerSecond * floor.windowMs;

/**
 * A small body of known length, read whole by the server (req.arrayBuffer(): no stream, no reader, no timer of
 * its own; these are most proxied requests) within one deadline of the process's sweep: past it, the answer is the 408 the
 * floor gives (with Connection: close, so the rest of the body is not waited for). A client that hangs up
 * makes the read fail: a client gone.
 */
export function readWithin(req: Request, length: number, floor: RateFloor, deadlines: Deadlines = coarseDeadlines): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const deadline = deadlines.add(floor.graceMs + (length * 1000) / floor.bytesPerSecond, () => reject(tooSlow(floor)()));
    req.arrayBuffer().then(
      (buffer) => {
        deadline.clear();
        // Never other than the Content-Length (the server frames the body by it), but the buffer is not trusted to that.
        if (buffer.byteLength === length) resolve(new Uint8Array(buffer));
        else reject(gone(req));
      },
      () => {
        deadline.clear();
        reject(gone(req));
      },
    );
  });
}

/** The next piece of a body: one too slow is cut with 408; any other failure is the client's leaving. */
async function nextChunk<R>(reader: { read(): Promise<R> }, req: Request): Promise<R> {
  try {
    return await reader.read();
  } catch (err) {
    throw err instanceof SlowBodyError ? err : gone(req);
  }
}

/**
 * A body read chunk by chunk: given up on as soon as it passes the limit (or, for `objectOnly`, as soon as
 * it cannot be a JSON object, or once it comes slower than the floor), and counted as it comes when `grow` is given.
 */
async function collect(req: Request, limits: BodyLimits, what: string, grow: Reservation | null, objectOnly = false): Promise<Uint8Array> {
  if (!req.body) return new Uint8Array(0);
  const max = limits.maxBytes;
  const reader = watchedUpload(req.body, limits.floor).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const next = await nextChunk(reader, req);
    if (next.done) break;
    total += next.value.length;
    const problem =
      objectOnly && !startsLikeObject(chunks, next.value)
        ? new NotAnObject()
        : total > max
          ? tooLarge(max, what)
          : !grow || grow.tryGrow(next.value.length)
            ? null
            : busy();
    if (problem) {
      reader.cancel().catch(() => {});
      throw problem;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Whether the body so far can still be a JSON object: its first byte that is not whitespace is `{`. Five
 * megabytes of chunked noise are refused on their first chunk instead of being read to the end.
 */
function startsLikeObject(before: Uint8Array[], chunk: Uint8Array): boolean {
  for (const part of [...before, chunk]) {
    for (const b of part) if (b !== 0x20 && b !== 0x0a && b !== 0x0d && b !== 0x09) return b === 0x7b;
  }
  return true;
}

export class NotAnObject extends Error {}

// Reading a request body fails only on the client's side: it hung up, or stopped sending until the server's idle timeout.
const gone = (req: Request) =>
  new ClientGoneError(req.signal.aborted ? "the client closed the request" : "the client stopped sending its request body");
