// The JSON tokens that are not containers, each read from its first byte: the index just past it, or -1 when
// it is not valid there. They build nothing, so a body of megabytes is walked without a copy.

/**
 * From an opening quote to just past the closing one; -1 when the string is not valid JSON or does not end.
 * `lax` only finds where it ends (a backslash skips the byte after it): for a prefix read without validation.
 */
export function scanString(b: Uint8Array, i: number, lax = false): number {
  for (i++; i < b.length; i++) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c === 0x5c) {
      const e = b[++i];
      if (lax) continue;
      if (e === 0x75) {
        for (let k = 1; k <= 4; k++) if (!isHex(b[i + k])) return -1;
        i += 4;
      } else if (e === undefined || !ESCAPES.has(e)) return -1;
    } else if (c < 0x20 && !lax) return -1;
  }
  return -1;
}

const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const isHex = (c: number | undefined) => c !== undefined && ((c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66));
const isDigit = (c: number | undefined) => c !== undefined && c >= 0x30 && c <= 0x39;

export function scanNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  if (b[i] === 0x30) i++;
  else if (isDigit(b[i])) while (isDigit(b[i])) i++;
  else return -1;
  if (b[i] === 0x2e) {
    if (!isDigit(b[++i])) return -1;
    while (isDigit(b[i])) i++;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    if (!isDigit(b[i])) return -1;
    while (isDigit(b[i])) i++;
  }
  return i;
}

const LITERALS = ["true", "false", "null"].map((w) => new TextEncoder().encode(w));

export function scanLiteral(b: Uint8Array, i: number): number {
  for (const w of LITERALS) {
    let k = 0;
    while (k < w.length && b[i + k] === w[k]) k++;
    if (k === w.length) return i + w.length;
  }
  return -1;
}

const utf8 = new TextDecoder();

/**
 * The text of the string token in b[start, end) (quotes included), or undefined when it is not valid JSON.
 * One without escapes or control bytes is decoded as it stands, without a parse.
 */
export function stringValue(b: Uint8Array, start: number, end: number): string | undefined {
  let plain = true;
  for (let k = start + 1; k < end - 1 && plain; k++) plain = b[k] !== 0x5c && b[k]! >= 0x20;
  if (plain) return utf8.decode(b.subarray(start + 1, end - 1));
  try {
    return JSON.parse(utf8.decode(b.subarray(start, end))) as string;
  } catch {
    return undefined;
  }
}
