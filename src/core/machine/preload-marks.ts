// Which models clients' requests are bringing to a machine, seen where every request to it passes: its proxy's
// forward. Only while a wake's loads are pending (Preloader.watching) is a request looked at, so at any other
// time this costs one property read per request. A request that runs a model is one the first load waits for
// (until its answer begins), and with a body in hand its model is marked from the moment it is forwarded until
// its answer has ended (or it failed): Ollama loads that model for it, so the preloader need not.
import { topLevelStrings } from "../../lib/json/index.ts";
import { type Endpoint, endpointFor } from "../proxy/endpoints.ts";
import type { AnswerTap, ForwardOverrides, OllamaProxy, RequestBody } from "../proxy/forward.ts";
import type { Preloader } from "./preload.ts";

type Forward = OllamaProxy["forward"];
const NOTHING = () => {};

/** How much of a body is searched for its model: Ollama's clients write it first, and a prompt may be megabytes. */
const MODEL_PREFIX_BYTES = 64 * 1024;

/** `forward`, marking on `preloader` the model of each request it sends while the preloader watches. */
export function markingForwards(forward: Forward, preloader: Pick<Preloader, "watching" | "clientSent" | "sentAhead">): Forward {
  return (req, pathAndQuery, over = {}) => {
    if (!preloader.watching) return forward(req, pathAndQuery, over);
    const endpoint = modelEndpoint(over.method ?? req.method, pathAndQuery);
    if (!endpoint) return forward(req, pathAndQuery, over);
    const model = modelIn(endpoint, over.body);
    const release = model === undefined ? NOTHING : preloader.clientSent(model);
    const answer = forward(req, pathAndQuery, model === undefined ? over : { ...over, tap: endingWith(over.tap, release) });
    preloader.sentAhead(answer);
    return answer.catch((err) => {
      release();
      throw err;
    });
  };
}

/** The model a request to Ollama runs, from a body held in memory; undefined for any other request. */
export function modelOf(method: string, pathAndQuery: string, body: ForwardOverrides["body"]): string | undefined {
  const endpoint = modelEndpoint(method, pathAndQuery);
  return endpoint && modelIn(endpoint, body);
}

/** The endpoint's entry when it runs a model (generates, chats, embeds): Ollama loads that model for it. */
function modelEndpoint(method: string, pathAndQuery: string): Endpoint | undefined {
  const q = pathAndQuery.indexOf("?");
  const endpoint = endpointFor(method, q < 0 ? pathAndQuery : pathAndQuery.slice(0, q));
  return endpoint?.usage && endpoint.model.length > 0 ? endpoint : undefined;
}

function modelIn(endpoint: Endpoint, body: ForwardOverrides["body"]): string | undefined {
  const bytes = firstBytes(body);
  if (!bytes) return undefined;
  // As Ollama's Go decoder reads keys (any letter case); the first field the endpoint names wins.
  const found = topLevelStrings(bytes.subarray(0, MODEL_PREFIX_BYTES), endpoint.model, { fold: true });
  for (const name of endpoint.model) {
    const model = found.get(name);
    if (model) return model;
  }
  return undefined;
}

/** A body's first bytes when they are in memory; a stream is not read here (it is the client's, on its way). */
function firstBytes(body: RequestBody | undefined): Uint8Array | undefined {
  if (!body || body instanceof ReadableStream) return undefined;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (Array.isArray(body)) return body[0];
  return body;
}

/** The request's own tap (if any), with `ended` also calling `done`. */
function endingWith(tap: AnswerTap | undefined, done: () => void): AnswerTap {
  return {
    answered: (status, headers) => tap?.answered(status, headers),
    chunk: (bytes) => tap?.chunk(bytes),
    ended: (complete) => {
      done();
      tap?.ended(complete);
    },
  };
}
