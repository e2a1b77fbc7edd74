// Malformed HTTP/1.1 on raw sockets: request lines, headers and framing that fetch would never produce.

import { int, pick, type Rand } from "./bodies.ts";
import type { Part } from "./raw.ts";

export interface RawCase {
  name: string;
  parts: Part[];
  /** The client hangs up after sending (a truncated request), so no answer is awaited. */
  leave?: boolean;
}

const H = "Host: 127.0.0.1\r\n";

/** One malformed (or, for comparison, one valid) request; `key` makes some of them authenticated. */
export function rawCase(rnd: Rand, key: string): RawCase {
  const auth = rnd() < 0.7 ? `X-API-Key: ${key}\r\n` : "";
  const post = (path: string, headers: string, body = "") => `POST ${path} HTTP/1.1\r\n${H}${auth}${headers}\r\n${body}`;
  const cases: (() => RawCase)[] = [
    () => ({ name: "valid", parts: [`GET /leases HTTP/1.1\r\n${H}${auth}\r\n`] }),
    () => ({ name: "garbage", parts: [randomBytes(rnd, int(rnd, 1, 2000)), "\r\n\r\n"] }),
    () => ({ name: "no-version", parts: ["GET /status\r\n\r\n"] }),
    () => ({ name: "bad-version", parts: [`GET /status HTTP/9.9\r\n${H}${auth}\r\n`] }),
    () => ({ name: "bad-method", parts: [`G@T /status HTTP/1.1\r\n${H}${auth}\r\n`] }),
    () => ({ name: "extra-spaces", parts: [`GET  /status  HTTP/1.1\r\n${H}${auth}\r\n`] }),
    () => ({ name: "lf-only", parts: [`GET /status HTTP/1.1\n${H.trim()}\n${auth.trim()}\n\n`] }),
    () => ({ name: "no-colon", parts: [`GET /status HTTP/1.1\r\n${H}${auth}BadHeader\r\n\r\n`] }),
    () => ({ name: "space-before-colon", parts: [`GET /status HTTP/1.1\r\n${H}X-API-Key : ${key}\r\n\r\n`] }),
    () => ({ name: "nul-in-header", parts: [`GET /status HTTP/1.1\r\n${H}X-API-Key: ${key.slice(0, 4)}\0${key.slice(4)}\r\n\r\n`] }),
    () => ({ name: "obs-fold", parts: [`GET /status HTTP/1.1\r\n${H}${auth}X-Folded: a\r\n  continued\r\n\r\n`] }),
    () => ({ name: "huge-header", parts: [`GET /status HTTP/1.1\r\n${H}${auth}X-Pad: ${"a".repeat(100_000)}\r\n\r\n`] }),
    () => ({
      name: "many-headers",
      parts: [`GET /status HTTP/1.1\r\n${H}${auth}${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v\r\n`).join("")}\r\n`],
    }),
    () => ({
      name: "cl-conflict",
      parts: [post("/arrancar", "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 10\r\n", "{}")],
    }),
    () => ({ name: "cl-list", parts: [post("/arrancar", "Content-Type: application/json\r\nContent-Length: 2, 10\r\n", "{}")] }),
    () => ({
      name: "cl-and-te",
      parts: [post("/ollama/chat", "Content-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")],
    }),
    () => ({ name: "cl-negative", parts: [post("/arrancar", "Content-Length: -1\r\n", "{}")] }),
    () => ({ name: "cl-garbage", parts: [post("/arrancar", "Content-Length: abc\r\n", "{}")] }),
    () => ({ name: "cl-huge", parts: [post("/api/chat", "Content-Length: 99999999999999999999\r\n", "{}")] }),
    () => ({ name: "te-bad-size", parts: [post("/api/chat", "Transfer-Encoding: chunked\r\n", "zz\r\nhello\r\n0\r\n\r\n")] }),
    () => ({ name: "te-unknown", parts: [post("/api/chat", "Transfer-Encoding: gzip, chunked\r\n", "2\r\n{}\r\n0\r\n\r\n")] }),
    () => ({
      name: "truncated-body",
      parts: [
        post("/ollama/chat", "Content-Type: application/json\r\nContent-Length: 1000000\r\n", '{"model":"x","messages":[' + "{},".repeat(3000)),
      ],
      leave: true,
    }),
    () => ({
      name: "truncated-chunked",
      parts: [post("/api/generate", "Transfer-Encoding: chunked\r\n", "1000\r\n" + "a".repeat(100))],
      leave: true,
    }),
    () => ({ name: "truncated-headers", parts: [`POST /arrancar HTTP/1.1\r\n${H}Content-Le`], leave: true }),
    () => ({ name: "http10-no-host", parts: [`GET /status HTTP/1.0\r\n${auth}\r\n`] }),
    () => ({ name: "pipelined", parts: [`GET / HTTP/1.1\r\n${H}\r\nGET /status HTTP/1.1\r\n${H}${auth}\r\nGARBAGE\r\n\r\n`] }),
    () => ({ name: "absolute-uri", parts: [`GET http://127.0.0.1:9/status HTTP/1.1\r\n${H}${auth}\r\n`] }),
    () => ({ name: "connect", parts: [`CONNECT 127.0.0.1:9 HTTP/1.1\r\n${H}${auth}\r\n`] }),
    () => ({
      name: "upgrade",
      parts: [
        `GET /api/tags HTTP/1.1\r\n${H}${auth}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ],
    }),
    () => ({
      name: "expect-100",
      parts: [post("/arrancar", "Content-Type: application/json\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"), 100, "{}"],
    }),
    () => ({
      name: "slow-body",
      parts: [
        post("/ollama/generate", "Content-Type: application/json\r\nContent-Length: 40\r\n"),
        '{"model":',
        300,
        '"llama3.2:3b","prompt":"hi"}'.padEnd(31),
      ],
    }),
  ];
  return pick(rnd, cases)();
}

function randomBytes(rnd: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0;
  return b;
}
