import { expect, test } from "bun:test";
import { Cancel } from "../../src/lib/cancel.ts";
import { childEnv, scratchDir } from "../helpers.ts";

test("abort runs each listener once, with the first reason; one removed or added afterwards never runs", () => {
  const cancel = new Cancel();
  const heard: string[] = [];
  const removed = () => heard.push("removed");
  cancel.addEventListener("abort", () => heard.push(`a ${String(cancel.reason)}`));
  cancel.addEventListener("abort", removed);
  cancel.addEventListener("abort", () => heard.push("b"));
  cancel.removeEventListener("abort", removed);
  expect(() => cancel.throwIfAborted()).not.toThrow();
  cancel.abort("first");
  cancel.abort("second");
  cancel.addEventListener("abort", () => heard.push("late"));
  expect(heard).toEqual(["a first", "b"]);
  expect([cancel.aborted, cancel.reason]).toEqual([true, "first"]);
  expect(() => cancel.throwIfAborted()).toThrow("first");
});

test("a listener added twice runs once; one removed by an earlier listener does not run", () => {
  const cancel = new Cancel();
  const heard: string[] = [];
  const twice = () => heard.push("twice");
  const second = () => heard.push("second");
  cancel.addEventListener("abort", () => {
    heard.push("first");
    cancel.removeEventListener("abort", second);
  });
  cancel.addEventListener("abort", twice);
  cancel.addEventListener("abort", twice);
  cancel.addEventListener("abort", second);
  cancel.abort();
  expect(heard).toEqual(["first", "twice"]);
});

test("its state cannot be written from outside", () => {
  const cancel = new Cancel();
  expect(() => Object.assign(cancel, { aborted: true })).toThrow();
  expect(cancel.aborted).toBe(false);
});

test("without a reason it aborts with an AbortError, as an AbortController does", () => {
  const cancel = new Cancel();
  cancel.abort();
  expect((cancel.reason as DOMException).name).toBe("AbortError");
});

test("a listener that throws is reported as uncaught, as an AbortSignal's is, and the others still run", async () => {
  // In a process of its own: the test runner would take the report for a failure of this file.
  const script = `
    import { Cancel } from ${JSON.stringify(`${import.meta.dir}/../../src/lib/cancel.ts`)};
    process.on("uncaughtException", (err) => console.log("reported:", err.message));
    const cancel = new Cancel();
    cancel.addEventListener("abort", () => { throw new Error("listener broke"); });
    cancel.addEventListener("abort", () => console.log("the next one ran"));
    cancel.abort();
    console.log("abort returned");
  `;
  const proc = Bun.spawn([process.execPath, "--no-env-file", "-e", script], { cwd: scratchDir(), env: childEnv(), stdout: "pipe", stderr: "pipe" });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  expect(out.trim().split("\n")).toEqual(["the next one ran", "abort returned", "reported: listener broke"]);
});
