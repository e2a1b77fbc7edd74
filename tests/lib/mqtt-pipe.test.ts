// The bounds of one MQTT connection (lib/mqtt/pipe.ts), against a socket that takes what the test says.
import { expect, test } from "bun:test";
import type { Socket } from "bun";
import { Pipe } from "../../src/lib/mqtt/pipe.ts";

function fakeSocket(takes: number[]) {
  const s = {
    written: [] as number[],
    paused: 0,
    resumed: 0,
    write(b: Uint8Array) {
      const n = Math.min(takes.shift() ?? b.length, b.length);
      s.written.push(n);
      return n;
    },
    pause() {
      s.paused++;
    },
    resume() {
      s.resumed++;
    },
  };
  return s;
}

test("what the socket does not take is queued, sent on drain in order, and past the cap refused", () => {
  const socket = fakeSocket([3, 0, 2]);
  const pipe = new Pipe(socket as unknown as Socket<undefined>, { maxPendingBytes: 10, maxInputBytesPerS: 1000 });
  expect(pipe.write(new Uint8Array(8))).toBe(true); // 3 taken, 5 queued
  expect(pipe.write(new Uint8Array(4))).toBe(true); // queued behind: 9 pending
  pipe.drain(); // takes 0: nothing moves
  pipe.drain(); // takes 2 of the first: the rest waits for the next drain
  expect(socket.written).toEqual([3, 0, 2]);
  pipe.drain(); // takes all the rest, in order
  expect(socket.written).toEqual([3, 0, 2, 3, 4]);
  expect(pipe.write(new Uint8Array(11))).toBe(true); // taken whole: nothing pending
  const stuck = fakeSocket([0, 0, 0]);
  const full = new Pipe(stuck as unknown as Socket<undefined>, { maxPendingBytes: 10, maxInputBytesPerS: 1000 });
  expect(full.write(new Uint8Array(6))).toBe(true);
  expect(full.write(new Uint8Array(6))).toBe(false); // 12 pending: the caller cuts the link
});

test("past the second's share of input the socket is paused once, and read again when the second is over", async () => {
  const socket = fakeSocket([]);
  const pipe = new Pipe(socket as unknown as Socket<undefined>, { maxPendingBytes: 10, maxInputBytesPerS: 100 });
  pipe.read(60);
  expect(socket.paused).toBe(0);
  pipe.read(60);
  pipe.read(60);
  expect(socket.paused).toBe(1);
  await new Promise<void>((resolve) => {
    const resume = socket.resume;
    socket.resume = () => {
      resume();
      resolve();
    };
  });
  expect(socket.resumed).toBe(1);
  pipe.close();
});
