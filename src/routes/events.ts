import { createRoute, z } from "@hono/zod-openapi";
import { streamSSE } from "hono/streaming";
import { EVENT_TYPES, EventType } from "../core/telemetry/events.ts";
import type { AppDeps } from "../deps.ts";
import { createRouter, documentedAs, errorResponses, jsonContent } from "../http/router.ts";
import { keepConnectionOpen } from "../server.ts";

const EventSchema = z
  .object({ id: z.number().int(), type: z.enum(EventType), at: z.string(), machine: z.string(), data: z.record(z.string(), z.unknown()) })
  .openapi("GateEvent");

const TYPES = EVENT_TYPES.map((t) => (t === EventType.power ? `\`${t}\` (state changes: from, to, reason)` : `\`${t}\``)).join(", ");

const stream = createRoute({
  method: "get",
  path: "/events",
  tags: ["Events"],
  summary: "Server-Sent Events: every decision as it happens",
  description: `One SSE message per event, its \`event:\` field the type: ${TYPES}. A comment is sent every 15 s to keep proxies from closing the stream.`,
  responses: { 200: { description: "An endless text/event-stream", content: { "text/event-stream": { schema: z.string() } } }, ...errorResponses() },
});

const history = createRoute({
  method: "get",
  path: "/events/history",
  tags: ["Events"],
  summary: "The last 200 events, oldest first",
  responses: { 200: jsonContent(z.object({ events: z.array(EventSchema) }), "Recent events"), ...errorResponses() },
});

export function eventRoutes({ events }: AppDeps) {
  const router = createRouter();
  router.openapi(stream, (c) => {
    keepConnectionOpen(c);
    const res = streamSSE(c, async (sse) => {
      let wake: () => void = () => {};
      const queue: string[] = [];
      const unsubscribe = events.subscribe((e) => {
        queue.push(JSON.stringify(e));
        wake();
      });
      sse.onAbort(() => {
        unsubscribe();
        wake();
      });
      // Bun sends the headers with the first bytes: say hello at once so the client knows it is connected.
      await sse.write(": connected\n\n");
      while (!sse.aborted) {
        while (queue.length > 0) {
          const data = queue.shift()!;
          await sse.writeSSE({ data, event: JSON.parse(data).type, id: String(JSON.parse(data).id) });
        }
        // Sleeps until an event arrives, the client leaves, or it is time for a keep-alive comment.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 15_000);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (queue.length === 0 && !sse.aborted) await sse.write(": keep-alive\n\n");
      }
    });
    return documentedAs(stream, res);
  });
  router.openapi(history, (c) => c.json({ events: events.history() }, 200));
  return router;
}
