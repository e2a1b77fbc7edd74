/**
 * A response body as text, read only up to `maxBytes`: null when it is larger (the rest is not read) or the
 * connection fails midway. For answers of a known, small shape from a peer not trusted to keep to it.
 */
export async function boundedText(res: Response, maxBytes: number): Promise<string | null> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => {});
        return null;
      }
      parts.push(value);
    }
  } catch {
    return null;
  }
  return Buffer.concat(parts).toString("utf8");
}
