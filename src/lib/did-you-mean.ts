// "Did you mean …?": the known word nearest to a misspelt one, by edit distance.

/**
 * Edits that turn `a` into `b`: a letter inserted, deleted or replaced, or two neighbours swapped (the
 * commonest typing slip, "prot" for "port", counts once rather than twice).
 */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) rows.push([i, ...Array.from({ length: b.length }, (_, j) => (i === 0 ? j + 1 : 0))]);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * How far a word of this length may be from the one meant: short words differ by one edit from many others
 * (HOST and HOME are two apart), so the allowance grows with the length.
 */
export function allowedDistance(length: number): number {
  return length <= 4 ? 0 : length <= 7 ? 1 : 2;
}

/** The candidate nearest to `word` within the allowance (case ignored), or undefined; never `word` itself. */
export function didYouMean(word: string, candidates: Iterable<string>, max = allowedDistance(word.length)): string | undefined {
  let best: string | undefined;
  let bestDistance = max + 1;
  for (const c of candidates) {
    if (c === word) continue;
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

/**
 * zod's `Unrecognized key: "ollama_prot"` (or `keys: "a", "b"`) with "(did you mean ollama_port?)" after each
 * key that is close to one of `known`, the keys the place takes. Any other message comes back as it was.
 */
export function hintUnknownKeys(message: string, known: readonly string[] | undefined): string {
  const m = /^(Unrecognized keys?: )(.*)$/.exec(message);
  if (!m || !known) return message;
  const hinted = m[2]!.replace(/"((?:[^"\\]|\\.)*)"/g, (quoted, key: string) => {
    // Keys are short: one slip ("prot" for "port") is allowed even below the usual length.
    const near = didYouMean(key, known, Math.max(1, allowedDistance(key.length)));
    return near ? `${quoted} (did you mean ${near}?)` : quoted;
  });
  return m[1] + hinted;
}
