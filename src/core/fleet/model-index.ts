/**
 * Which machines hold which model: each machine's configured models, merged with the list it last
 * reported. A map rebuilt when a list changes, so a request looks its model up, never scans.
 */
export class ModelIndex {
  private readonly reported = new Map<string, string[]>();
  private byModel = new Map<string, string[]>();

  /** Machines in the file's order, with the models each is configured to hold. */
  constructor(private readonly machines: readonly { name: string; models: readonly string[] }[]) {
    this.rebuild();
  }

  /** A machine's own list (from Ollama, or from its cache at start); nothing happens when it is unchanged. */
  report(machine: string, models: readonly string[]): void {
    const next = [...new Set(models.map(normalizeModel))].sort();
    const before = this.reported.get(machine);
    if (before && before.length === next.length && before.every((m, i) => m === next[i])) return;
    this.reported.set(machine, next);
    this.rebuild();
  }

  /** The machines holding `model`, in the file's order. */
  holders(model: string): readonly string[] {
    return this.byModel.get(normalizeModel(model)) ?? [];
  }

  /** What a machine is known to hold, configured or reported. */
  modelsOf(machine: string): string[] {
    const configured = this.machines.find((m) => m.name === machine)?.models ?? [];
    return [...new Set([...configured.map(normalizeModel), ...(this.reported.get(machine) ?? [])])].sort();
  }

  private rebuild(): void {
    const map = new Map<string, string[]>();
    for (const { name } of this.machines) {
      for (const model of this.modelsOf(name)) map.set(model, [...(map.get(model) ?? []), name]);
    }
    this.byModel = map;
  }
}

/**
 * Ollama's own reading of a model name: case does not matter, its default registry and namespace may be
 * written out (registry.ollama.ai/library/llama3 is llama3), and no tag means ":latest".
 */
export function normalizeModel(model: string): string {
  const m = model
    .trim()
    .toLowerCase()
    .replace(/^registry\.ollama\.ai\//, "")
    .replace(/^library\//, "");
  const lastPart = m.slice(m.lastIndexOf("/") + 1);
  return lastPart.includes(":") ? m : `${m}:latest`;
}
