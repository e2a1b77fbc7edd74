// The HTTP/1.1 wire format an upstream client needs: the request head it writes, the response head it
// reads, and how the response body is framed (RFC 9112). Pure functions over bytes and strings.

/** A response head larger than this is refused: no server we talk to sends one. */
const MAX_HEAD_BYTES = 64 * 1024;

export class ProtocolError extends Error {
  readonly code = "HPE_INVALID";
}

/** A request this client will not write: a method or target with a byte that would break the request line. */
export class InvalidRequestError extends Error {}

/** A method or a header name: visible ASCII, no separators. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
// Visible ASCII only: a space, CR or LF in the method or the target would end the request line early and start another.
const TARGET = /^\/[\x21-\x7e]*$/;

export interface ResponseHead {
  status: number;
  statusText: string;
  headers: Headers;
  /** HTTP/1.0, or a `Connection: close`: the connection ends with this message. */
  closes: boolean;
}

export type Framing = { kind: "none" } | { kind: "length"; bytes: number } | { kind: "chunked" } | { kind: "until-close" };

const latin1 = new TextDecoder("latin1");

/** Headers the client writes itself, whatever the caller's say. */
const FRAMING = new Set(["host", "content-length", "transfer-encoding"]);

/** A request's headers: a Headers object, or name-value pairs (names in any case). */
export type HeaderList = Headers | readonly (readonly [string, string])[];

/**
 * What would end a header line early and start another of the sender's choosing: CR, LF, NUL, and any
 * character above U+00FF, which the Latin-1 encoding below would cut to its low byte (U+010D to CR).
 */
const LINE_BREAK = /[\r\n\u0100-\uffff]/;

/**
 * The request line and headers, ended by the blank line: the caller's headers less the framing ones, then
 * `host` and `framing`. A Headers object refuses CR and LF itself; pairs are checked here.
 */
export function requestHead(method: string, target: string, host: string, headers: HeaderList, framing: string | null): Uint8Array {
  if (!TOKEN.test(method) || !TARGET.test(target)) throw new InvalidRequestError("the request's method or path cannot be sent as it is");
  let head = `${method} ${target} HTTP/1.1\r\nhost: ${host}\r\n`;
  if (headers instanceof Headers) headers.forEach((value, name) => FRAMING.has(name) || (head += `${name}: ${value}\r\n`));
  else
    for (const [given, value] of headers) {
      // Lower-cased first, so a Content-Length among the pairs is dropped as a framing header too.
      const name = given.toLowerCase();
      if (!TOKEN.test(name) || LINE_BREAK.test(value) || value.includes("\0"))
        throw new InvalidRequestError("a request header cannot be sent as it is");
      if (!FRAMING.has(name)) head += `${name}: ${value}\r\n`;
    }
  if (framing) head += framing + "\r\n";
  // Latin-1, as HTTP/1.1 header bytes are: a Headers value holds one byte per character.
  return Buffer.from(head + "\r\n", "latin1");
}

/** Where the head ends (the index just past its blank line) in `buf`, or -1 while it has not ended. */
function headEnd(buf: Uint8Array): number {
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) {
    if (buf[i + 1] === 10) return i + 2;
    if (buf[i + 1] === 13 && buf[i + 2] === 10) return i + 3;
  }
  return -1;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-5]\d\d)(?: (.*))?$/;

function parseHead(bytes: Uint8Array): ResponseHead {
  const lines = latin1.decode(bytes).split(/\r?\n/);
  const m = STATUS_LINE.exec(lines[0] ?? "");
  if (!m) throw new ProtocolError("the upstream's answer does not start with an HTTP/1.x status line");
  const headers = new Headers();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    if (colon <= 0 || !TOKEN.test(name)) throw new ProtocolError("the upstream sent a malformed header line");
    headers.append(name, line.slice(colon + 1).trim());
  }
  const connection = (headers.get("connection") ?? "").toLowerCase();
  const closes = m[1] === "0" ? !/\bkeep-alive\b/.test(connection) : /\bclose\b/.test(connection);
  return { status: Number(m[2]), statusText: m[3] ?? "", headers, closes };
}

/**
 * Collects a response's head as its bytes arrive, across reads, and skips interim answers (100 Continue,
 * 103 Early Hints): `push` gives the final head and the bytes after it, or null while it is incomplete.
 */
export class HeadReader {
  private pending: Uint8Array | null = null;

  push(chunk: Uint8Array): { head: ResponseHead; rest: Uint8Array } | null {
    // Empty lines before a status line are skipped, as a server skips them before a request line (RFC 9112
    // §2.2): a stray CRLF a sloppy upstream sent after its last answer must not fail the next one.
    if (!this.pending) chunk = chunk.subarray(leadingEmptyLines(chunk));
    if (chunk.length === 0) return null;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const end = headEnd(buf);
    if (end < 0) {
      if (buf.length > MAX_HEAD_BYTES) throw new ProtocolError("the upstream's answer head is over 64 KB");
      this.pending = buf === chunk ? chunk.slice() : buf;
      return null;
    }
    this.pending = null;
    const head = parseHead(buf.subarray(0, end));
    const rest = buf.subarray(end);
    if (head.status >= 200) return { head, rest };
    return rest.length > 0 ? this.push(rest) : null;
  }
}

function leadingEmptyLines(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length && (bytes[i] === 13 || bytes[i] === 10)) i++;
  return i;
}

/** How the body of a response to `method` with this head is delimited (RFC 9112 §6.3). */
export function framingOf(method: string, head: ResponseHead): Framing {
  const { status, headers } = head;
  if (method === "HEAD" || status === 204 || status === 304 || status < 200) return { kind: "none" };
  const te = headers.get("transfer-encoding");
  if (te !== null) return /(^|,)\s*chunked\s*$/i.test(te) ? { kind: "chunked" } : { kind: "until-close" };
  const cl = headers.get("content-length");
  if (cl === null) return { kind: "until-close" };
  // Repeated headers arrive joined by commas; they must all agree.
  const values = new Set(cl.split(",").map((v) => v.trim()));
  const only = [...values][0]!;
  if (values.size !== 1 || !/^\d{1,15}$/.test(only)) throw new ProtocolError("the upstream sent an invalid Content-Length");
  const bytes = Number(only);
  return bytes === 0 ? { kind: "none" } : { kind: "length", bytes };
}
