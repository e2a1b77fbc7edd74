export interface FakeModel {
  name: string;
  size: number;
  modified_at: string;
  digest: string;
  details: Record<string, unknown>;
}

export const DEFAULT_MODELS: FakeModel[] = [
  fakeModel("llama3.2:3b", 2_019_393_189, "llama", "3.2B"),
  fakeModel("qwen2.5-coder:7b", 4_683_087_332, "qwen2", "7.6B"),
  fakeModel("nomic-embed-text:latest", 274_302_450, "nomic-bert", "137M"),
];

function fakeModel(name: string, size: number, family: string, parameter_size: string): FakeModel {
  return {
    name,
    size,
    modified_at: "2026-10-01T12:00:00.000Z",
    digest: Buffer.from(name).toString("hex").padEnd(64, "0").slice(0, 64),
    details: { format: "gguf", family, families: [family], parameter_size, quantization_level: "Q4_K_M" },
  };
}

export interface FakeOllamaOptions {
  models?: FakeModel[];
}

/** The subset of Ollama's HTTP API the simulated machine serves. */
export function fakeOllamaHandler(opts: FakeOllamaOptions = {}) {
  const models = opts.models ?? DEFAULT_MODELS;
  return (req: Request): Response => {
    const { pathname } = new URL(req.url);
    if (req.method === "GET" && pathname === "/") return new Response("Ollama is running");
    if (req.method === "GET" && pathname === "/api/version") return Response.json({ version: "0.12.0-sim" });
    if (req.method === "GET" && pathname === "/api/tags") return Response.json({ models });
    return Response.json({ error: `404 page not found: ${req.method} ${pathname}` }, { status: 404 });
  };
}
