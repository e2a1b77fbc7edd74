import { AsyncLocalStorage } from "node:async_hooks";

/**
 * Who the work under way is done for (the name of the API key of the request that started it), so what
 * it records — events, above all — can say so without every function passing it along. Work started by
 * a timer (the power loop, a schedule) runs outside any request and has none.
 */
const actor = new AsyncLocalStorage<string>();

export const actingFor = <T>(name: string, work: () => T): T => actor.run(name, work);
export const currentActor = (): string | undefined => actor.getStore();

/** Runs `work` as no request's: a timer set up during a request but serving everyone (the power loop). */
export const outsideRequest = <T>(work: () => T): T => actor.exit(work);
