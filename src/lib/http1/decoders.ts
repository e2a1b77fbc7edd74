// Body decoders: fed the bytes after the head as they arrive, they hand on the body's pieces (views, not
// copies) and say where the body ended.
import { type Framing, ProtocolError } from "./message.ts";

export interface BodyDecoder {
  /** True once the whole body has been handed on. */
  readonly done: boolean;
  /** Hands each piece of body in `bytes` to `out`; returns how many bytes belonged to the body. */
  push(bytes: Uint8Array, out: (piece: Uint8Array) => void): number;
}

export function decoderFor(framing: Framing): BodyDecoder {
  switch (framing.kind) {
    case "none":
      return new LengthDecoder(0);
    case "length":
      return new LengthDecoder(framing.bytes);
    case "chunked":
      return new ChunkedDecoder();
    case "until-close":
      return { done: false, push: (bytes, out) => (bytes.length > 0 && out(bytes), bytes.length) };
  }
}

class LengthDecoder implements BodyDecoder {
  constructor(private left: number) {}

  get done(): boolean {
    return this.left === 0;
  }

  push(bytes: Uint8Array, out: (piece: Uint8Array) => void): number {
    const n = Math.min(this.left, bytes.length);
    if (n > 0) out(bytes.subarray(0, n));
    this.left -= n;
    return n;
  }
}

/** A size line, its data and CRLF, again and again; a zero size, optional trailers and a blank line end it. */
class ChunkedDecoder implements BodyDecoder {
  done = false;
  private state: "size" | "data" | "data-end" | "trailers" = "size";
  private left = 0;
  private line = "";

  push(bytes: Uint8Array, out: (piece: Uint8Array) => void): number {
    let i = 0;
    while (i < bytes.length && !this.done) {
      if (this.state === "data") {
        const n = Math.min(this.left, bytes.length - i);
        out(bytes.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) this.state = "data-end";
        continue;
      }
      const lf = bytes.indexOf(10, i);
      const end = lf < 0 ? bytes.length : lf;
      for (let j = i; j < end; j++) this.line += String.fromCharCode(bytes[j]!);
      if (this.line.length > 4096) throw new ProtocolError("the upstream sent a chunk line longer than 4 KB");
      if (lf < 0) return bytes.length;
      i = lf + 1;
      this.endLine(this.line.endsWith("\r") ? this.line.slice(0, -1) : this.line);
      this.line = "";
    }
    return i;
  }

  private endLine(line: string): void {
    if (this.state === "size") {
      const hex = line.split(";")[0]!.trim();
      if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) throw new ProtocolError("the upstream sent an invalid chunk size");
      this.left = parseInt(hex, 16);
      this.state = this.left === 0 ? "trailers" : "data";
    } else if (this.state === "data-end") {
      if (line !== "") throw new ProtocolError("the upstream's chunk is longer than its size");
      this.state = "size";
    } else if (line === "") {
      this.done = true;
    }
  }
}
