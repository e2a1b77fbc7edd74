// The metric names and labels a dashboard's or an alert rule's PromQL asks for, read loosely (no PromQL parser:
// enough for the expressions in docs/), and what a gateway's /metrics has (tests/e2e/grafana.test.ts).

// Labels Prometheus adds to every series it scrapes.
const SCRAPE_LABELS = new Set(["job", "instance"]);

/** Every metric name an expression names: an ollama_gate_ or process_ identifier followed by a selector, a range, a bracket, a comma, a space or the end. */
export function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b((?:ollama_gate|process)_[A-Za-z0-9_]+)(?=[{[),\s]|$)/g)].map((m) => m[1]!);
}

/** The labels each selector of `metric` matches on, and those `by (…)` groups by. */
export function labelsUsed(expr: string): { selectors: [string, string[]][]; by: string[] } {
  const selectors = [...expr.matchAll(/\b((?:ollama_gate|process)_[A-Za-z0-9_]+)\{([^}]*)\}/g)].map((m): [string, string[]] => [
    m[1]!,
    [...m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!),
  ]);
  const by = [...expr.matchAll(/\b(?:by|on)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(",").map((l) => l.trim())).filter(Boolean);
  return { selectors, by };
}

/** Every `expr` (and variable query) in the dashboard, wherever it sits. */
export function dashboardExprs(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) for (const n of node) dashboardExprs(n, out);
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if ((k === "expr" || k === "definition") && typeof v === "string") out.push(v);
      else dashboardExprs(v, out);
    }
  }
  return out;
}

/** /metrics read back: each metric's type, and the label names seen on its series. */
export function parseExposition(text: string): { types: Map<string, string>; labels: Map<string, Set<string>> } {
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) types.set(type[1]!, type[2]!);
    const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const names = [...(sample[2] ?? "").matchAll(/([A-Za-z_][A-Za-z0-9_]*)="/g)].map((m) => m[1]!);
    const seen = labels.get(sample[1]!) ?? new Set<string>();
    for (const n of names) seen.add(n);
    labels.set(sample[1]!, seen);
  }
  return { types, labels };
}

/** The metric a queried name belongs to: a histogram's _bucket, _sum and _count are its own. */
export function familyOf(name: string, types: Map<string, string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return base !== name && types.get(base) === "histogram" ? base : name;
}

/** What an expression asks of /metrics that /metrics does not have: unknown metrics, and labels none of its series carry. */
export function missing(expr: string, scraped: ReturnType<typeof parseExposition>): string[] {
  const { types, labels } = scraped;
  const problems: string[] = [];
  const families = metricNames(expr).map((n) => familyOf(n, types));
  for (const f of families) if (!types.has(f)) problems.push(`no metric ${f}`);
  const seriesName = (f: string) => (types.get(f) === "histogram" ? `${f}_bucket` : f);
  const labelsOf = (f: string) => labels.get(seriesName(f)) ?? new Set<string>();
  // A counter nothing has counted yet (no usage store error here) shows one unlabelled zero: its labels cannot be checked.
  const labelled = (f: string) => [...labelsOf(f)].some((l) => l !== "le");
  const { selectors, by } = labelsUsed(expr);
  for (const [name, used] of selectors) {
    const f = familyOf(name, types);
    if (labelled(f)) for (const l of used) if (!SCRAPE_LABELS.has(l) && !labelsOf(f).has(l)) problems.push(`no label ${l} on ${f}`);
  }
  const checkable = families.filter(labelled);
  for (const l of by) {
    if (checkable.length && !SCRAPE_LABELS.has(l) && !checkable.some((f) => labelsOf(f).has(l)))
      problems.push(`no label ${l} on any of ${checkable.join(", ")}`);
  }
  return problems;
}
