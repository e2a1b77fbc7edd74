import { expect, test } from "bun:test";
import { actingFor, currentActor } from "../../src/lib/actor.ts";
import { Poller } from "../../src/lib/poller.ts";

test("a loop hurried along from inside a request runs as nobody's: its events would carry no key", async () => {
  const seen: (string | undefined)[] = [];
  let done!: () => void;
  const twice = new Promise<void>((resolve) => (done = resolve));
  const poller = new Poller(
    async () => {
      seen.push(currentActor());
      if (seen.length === 2) done();
    },
    () => 0,
    () => {},
  );
  actingFor("chat", () => {
    expect(currentActor()).toBe("chat");
    poller.start(); // as a wake does, from the request that asked for it
  });
  await twice;
  poller.stop();
  expect(seen).toEqual([undefined, undefined]);
});
