// The demo's two machines, shared by `npm run demo` (random ports) and `npm run sim` (fixed ones): "big"
// woken by a magic packet and shut down over SSH, "small" switched by a smart plug over HTTP.
import { fakeModel } from "./fake-ollama.ts";
import { type SimState, SimulatedMachine } from "./machine.ts";
import { SimSmartPlug } from "./smart-plug.ts";

export interface DemoMachineOptions {
  sshPassword: string;
  sudoPassword: string;
  bootDelayMs: number;
  /** Fixed ports (the sim); none: the system picks free ones (the demo). */
  ports?: { bigOllama: number; bigSsh: number; bigWol: number; smallOllama: number; plug: number };
  /** big's SSH host key, kept between runs so a pinned fingerprint stays true. */
  sshHostKey?: string;
  /** One line per thing the machines do, for the person watching. */
  log: (line: string) => void;
}

export async function startDemoMachines(o: DemoMachineOptions) {
  const base = { sshUser: "ia", sshPassword: o.sshPassword, sudoPassword: o.sudoPassword, bootDelayMs: o.bootDelayMs };
  const big = await new SimulatedMachine({
    ...base,
    mac: "52:54:00:12:34:56",
    ...(o.sshHostKey ? { sshHostKey: o.sshHostKey } : {}),
    ...(o.ports ? { ports: { ollama: o.ports.bigOllama, ssh: o.ports.bigSsh, wol: o.ports.bigWol } } : {}),
    ollama: { models: [fakeModel("llama3.1:70b", 42_520_413_916, "llama", "70.6B")] },
  }).start();
  const small = await new SimulatedMachine({
    ...base,
    mac: "52:54:00:00:00:02",
    ...(o.ports ? { ports: { ollama: o.ports.smallOllama } } : {}),
    ollama: { models: [fakeModel("qwen2.5:7b", 4_683_087_332, "qwen2", "7.6B")] },
  }).start();
  let stopping = false;
  const log = (line: string) => !stopping && o.log(line);
  const relay = {
    on: () => {
      log("[sim plug] relay switched on: small gets power and boots");
      small.boot();
    },
    off: () => {
      log("[sim plug] relay switched off: small loses power");
      void small.powerOff();
    },
  };
  const plug = new SimSmartPlug(relay, o.ports?.plug ?? 0);
  // Only a magic packet boots big: log the one that woke it (repeats while it boots are ignored by the machine too).
  big.on("state", (s: SimState) => {
    if (s !== "booting") return;
    const p = big.packets.at(-1);
    log(`[sim big] magic packet for ${p?.mac ?? big.mac} from ${p?.from ?? "?"}: booting`);
  });
  for (const [name, m] of [
    ["big", big],
    ["small", small],
  ] as const) {
    m.on("state", (s: SimState) => s !== "booting" && log(`[sim ${name}] ${s}`));
  }
  const stop = async () => {
    stopping = true;
    plug.stop();
    await big.stop();
    await small.stop();
  };
  return { big, small, plug, stop };
}
