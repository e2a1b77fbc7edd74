// The body step: a small body is read whole (within the shared memory budget) and checked before anything
// can wake a machine; a large or chunked one (a blob upload) streams through untouched and unlimited.
import type { ApiKey } from "../../core/access/access.ts";
import { ClientGoneError } from "../../core/errors.ts";
import { bodyAt, ROUTING_FIELDS } from "../../core/proxy/endpoints.ts";
import type { RequestBody } from "../../core/proxy/forward.ts";
import { type BodyLimits, BUFFER_LIMIT, declaredLength, holderNamed, readWhole, reserve, watchedUpload } from "../../http/body.ts";
import { MAX_JSON_DEPTH, problemAnswer } from "../../http/json-body.ts";
import { upstreamTarget } from "../../http/key-path.ts";
import { addressOf } from "../../http/throttle.ts";
import { scanBody, stringsOf, topLevelStrings } from "../../lib/json/index.ts";
import { peekStream, watchHead } from "../../lib/stream-peek.ts";
import type { Outgoing } from "./wake.ts";
import { asksForEventStream, STREAM_FIELD, type WakeProgress } from "./wake-progress.ts";

/** Reserved twice (reserve() counts it so) for one streamed upload: Bun holds a little more than this of each (README, Benchmarks). */
const STREAM_READ_AHEAD = 1048576;
/** How much of a large or chunked JSON body is read to find its model: the field comes first in practice. */
const MODEL_PEEK_BYTES = 64 * 1024;

/** What the body step reads of a request (the pipeline's call), and what it sets: `body` and `fields`. */
export interface Incoming extends Outgoing {
  method: string;
  /** Without the pin: what the endpoint table knows. */
  unpinned: string;
  key: ApiKey | null;
  /** What is forwarded: the bytes read whole, or the stream; null for none. */
  body: RequestBody;
  /** The top-level string fields asked for (null: no JSON body read for them). */
  fields: Map<string, string> | null;
  /** For a body streamed through: sets `fields` from what has passed so far, if they are not set yet. */
  noteFields?: () => void;
}

/** The memory a body holds until it has left (release), and the wake progress an OpenAI stream that waits gets. */
export interface Held {
  streaming?: WakeProgress;
  release: () => void;
}

const NOTHING_HELD: Held = { release: () => {} };
/** Ollama decodes bodies with Go's encoding/json, which matches keys in any letter case (`"Model"`): so are they read here. */
const AS_OLLAMA = { fold: true } as const;
/** What the scan of a small JSON body notes when the machine is chosen by model: constant, so its matcher is compiled once. */
const STREAM_AND_ROUTING: ReadonlySet<string> = new Set([...STREAM_FIELD, ...ROUTING_FIELDS]);

/**
 * Sets call.body and call.fields (the top-level string fields `named`, when the body is JSON). A small body
 * (up to BUFFER_LIMIT, with a Content-Length) is read whole and scanned; larger or chunked bodies stream
 * through — after their first 64 KB were read for the model they name, when `named` is not empty and `routes`
 * (the machine is chosen by it); when only usage notes it, those 64 KB are read as they pass, nothing held
 * back. With `progress`, an OpenAI streaming request's small body is kept for the stream that waits for a wake.
 */
export async function readBody(
  call: Incoming,
  limits: BodyLimits,
  named: readonly string[],
  progress?: WakeProgress,
  routes = true,
): Promise<Held | Response> {
  const req = call.req;
  if (req.method === "GET" || req.method === "HEAD") return NOTHING_HELD;
  const length = declaredLength(req);
  // A body of known length is read without its stream (Bun makes req.body only when asked for it).
  if (!(length !== null && length > 0) && !req.body) return NOTHING_HELD;
  const json = isJsonBody(call.unpinned, req.headers.get("content-type"));
  // Ollama reads its JSON endpoints' bodies whatever the type says (`curl -d` sends a form type): so does the routing.
  const fields = named.length > 0 && (json || bodyAt(call.unpinned) === "json") ? named : null;
  const holder = holderNamed(call.key?.name, () => addressOf(call.server, call.raw));
  if (length === null || length > BUFFER_LIMIT) return streamed(call, req.body!, limits, fields, holder, routes);
  const { bytes, reservation } = await readWhole(req, limits, "a buffered body", { holder });
  // An OpenAI stream that waits for a wake answers at once: its stream keeps the body's memory until it is sent.
  const held = { kept: false, release: () => reservation.release() };
  let streaming: WakeProgress | undefined;
  if (bytes.length > 0 && json) {
    // One scan: the syntax and depth, `stream`, and the fields that may name the model.
    const scan = scanBody(bytes, {
      maxDepth: MAX_JSON_DEPTH,
      fields: fields ? STREAM_AND_ROUTING : STREAM_FIELD,
      strings: fields !== null,
      ...AS_OLLAMA,
    });
    if (!scan.ok) {
      reservation.release();
      return problemAnswer(call.path, scan.problem);
    }
    const sse = progress && asksForEventStream(req.method, () => upstreamTarget(call).split("?")[0]!, bytes, scan.fields);
    if (sse) streaming = { ...progress, body: held };
    if (fields) call.fields = stringsOf(scan.fields, fields);
  } else if (fields) call.fields = topLevelStrings(bytes, fields, AS_OLLAMA); // sent with another type: read as Ollama would
  call.body = bytes;
  // Released once the response has begun: the body has left by then, and its memory is free.
  return { streaming, release: () => held.kept || reservation.release() };
}

/**
 * Streamed through, but the server holds about a megabyte and a half of each such body (read ahead of the
 * upstream, or received while the machine boots): counted against the same pools, from the start, and cut
 * once it comes slower than the floor (the upstream connection with it: Ollama gets no half body).
 */
async function streamed(
  call: Incoming,
  body: ReadableStream<Uint8Array>,
  limits: BodyLimits,
  fields: readonly string[] | null,
  holder: string,
  routes: boolean,
) {
  const reservation = reserve(limits, STREAM_READ_AHEAD, holder);
  try {
    const upload = watchedUpload(body, limits.floor);
    if (!fields) call.body = upload;
    else if (!routes) {
      // Only the usage record names the model (read when the request has ended): the upload is not held back.
      const watched = watchHead(upload, MODEL_PEEK_BYTES, (head) => {
        call.fields = topLevelStrings(head, fields, AS_OLLAMA);
      });
      call.body = watched.stream;
      call.noteFields = watched.take; // the record may come first (an answer that ended before the upload)
    } else {
      const { head, stream } = await peekStream(upload, MODEL_PEEK_BYTES).catch((err) => {
        throw call.req.signal.aborted ? new ClientGoneError() : err;
      });
      call.fields = topLevelStrings(head, fields, AS_OLLAMA);
      call.body = stream;
    }
    return { release: () => reservation.release() };
  } catch (err) {
    reservation.release();
    throw err;
  }
}

// A body that says it is JSON, or one sent untyped (as some clients do) to an endpoint that takes JSON (the
// endpoint table says which). Blobs are binary, and an endpoint this gateway does not know gets its body as it is.
const isJsonBody = (path: string, type: string | null) => {
  const body = bodyAt(path);
  return body !== "binary" && (type ? /[/+]json\b/i.test(type) : body === "json");
};
