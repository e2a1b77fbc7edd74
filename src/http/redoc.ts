import type { OpenAPIHono } from "@hono/zod-openapi";
// A path, not the contents: embedded in the compiled executable, read only when asked for.
import redocJs from "redoc/bundles/redoc.standalone.js" with { type: "file" };

/**
 * Only the gateway's own script and document. ReDoc writes its styles into the page from its script
 * (style-src 'unsafe-inline'), builds its search worker from a blob and draws its icons as data URLs.
 */
const HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
};

/** The one address the bundle reaches out to: its maker's logo, beside "API docs by Redocly" in the menu. */
const LOGO = new TextEncoder().encode("https://cdn.redoc.ly/redoc/logo-mini.svg");
const NO_LOGO = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E";

/** ReDoc at /redoc, the old service's second reference page, from the `redoc` package's standalone bundle. */
export function mountRedoc(app: OpenAPIHono, assets: string) {
  const script = `${assets}/redoc.standalone.js`;
  const page = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>ollama-gate · ReDoc</title></head>
<body><redoc spec-url="/openapi.json"></redoc><script src="${script}"></script></body>
</html>`;
  app.get("/redoc", (c) => c.html(page, 200, HEADERS));
  const bundle = withoutLogo();
  app.get(
    script,
    async () =>
      new Response(await bundle(), { headers: { "content-type": "text/javascript; charset=utf-8", "cache-control": "public, max-age=86400" } }),
  );
}

/**
 * The bundle with the logo's address replaced by an empty picture, so the page asks nothing of another origin.
 * The address is looked for once; each answer then streams the file's two parts around it, never held whole.
 */
function withoutLogo(): () => Promise<ReadableStream<Uint8Array> | Blob> {
  const file = Bun.file(redocJs);
  let at: Promise<number> | undefined;
  return async () => {
    at ??= file.bytes().then((bytes) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(LOGO));
    const i = await at;
    if (i < 0) return file;
    const parts: (() => AsyncIterator<Uint8Array>)[] = [
      () => file.slice(0, i).stream()[Symbol.asyncIterator](),
      async function* () {
        yield new TextEncoder().encode(NO_LOGO);
      },
      () =>
        file
          .slice(i + LOGO.byteLength)
          .stream()
          [Symbol.asyncIterator](),
    ];
    let part: AsyncIterator<Uint8Array> | undefined;
    // One chunk per pull: a client that reads slowly holds a chunk of it, not the whole bundle.
    return new ReadableStream<Uint8Array>({
      async pull(out) {
        for (;;) {
          part ??= parts.shift()?.();
          if (!part) return out.close();
          const { done, value } = await part.next();
          if (!done) return out.enqueue(value);
          part = undefined;
        }
      },
      cancel: async () => void (await part?.return?.()),
    });
  };
}
