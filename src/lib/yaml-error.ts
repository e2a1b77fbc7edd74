// Where a YAML text goes wrong, and why, in words a person can act on. Bun's YAML errors carry neither a
// line nor a column (their line and column are those of the caller) and mostly say "Unexpected token", so
// the place is found by parsing ever shorter beginnings of the text, and the reason by looking at that line.

export interface YamlProblem {
  /** 1-based, as editors count; undefined when the text is too long to search. */
  line?: number;
  column?: number;
  problem: string;
  /** A word of the line that `problem` names (`missing ":" after host?`): the excerpt shows it unmasked. */
  named?: string;
}

/** Past this many lines, finding the line (one parse per line) is not worth it: the reason alone is given. */
const MAX_LINES = 2000;

const TAB = "tabs are not allowed for indentation in YAML; use spaces";

const parses = (text: string) => {
  try {
    Bun.YAML.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** The problem in a YAML text that `Bun.YAML.parse` refused with `message`. */
export function locateYamlProblem(text: string, message: string): YamlProblem {
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  const reason = message.replace(/^YAML Parse error: /, "");
  if (lines.length > MAX_LINES) return { problem: /tab/i.test(reason) ? TAB : reason };
  // The line that breaks it: the first after the longest beginning that still parses. (A bracket or quote that
  // closes on a later line makes a shorter beginning fail too; the longest one skips past those.)
  let at = 0;
  for (let n = lines.length - 1; n >= 0; n--) {
    if (parses(lines.slice(0, n).join("\n"))) {
      at = n;
      break;
    }
  }
  const tab = lines.slice(0, at + 1).findIndex((l) => /^[ ]*\t/.test(l) && l.trim() !== "");
  if (tab >= 0) return { line: tab + 1, column: lines[tab]!.indexOf("\t") + 1, problem: TAB };
  return whyThisLine(lines, at, reason);
}

/** The nearest line above `at` that holds something (not blank, not a comment), or -1. */
function previousLine(lines: string[], at: number): number {
  for (let i = at - 1; i >= 0; i--) if (!/^\s*(#.*)?$/.test(lines[i]!)) return i;
  return -1;
}

const indentOf = (l: string) => l.length - l.trimStart().length;
/** Where a line's content starts: after its indentation and any "- " of a list item. */
const contentStart = (l: string) => /^\s*(?:-\s+)*/.exec(l)![0].length;
const hasKey = (content: string) => /^[^#"'[{][^#]*?:(\s|$)/.test(content);

function whyThisLine(lines: string[], at: number, reason: string): YamlProblem {
  const line = lines[at] ?? "";
  const here = (column: number, problem: string) => ({ line: at + 1, column, problem });
  const open = unclosed(line);
  if (open) return here(open.column, open.problem);
  const start = contentStart(line);
  const content = line.slice(start);
  const word = /^[A-Za-z0-9_.-]+/.exec(content)?.[0];
  if (word && !hasKey(content) && / \S/.test(content.slice(word.length)))
    return { ...here(start + word.length + 1, `missing ":" after ${word}?`), named: word };
  const p = previousLine(lines, at);
  const before = lines[p];
  // Only a key opens a block: a more indented line under a bare word means that word lost its colon.
  if (before !== undefined && indentOf(line) > indentOf(before) && !/^\s*- /.test(before) && !hasKey(before.slice(contentStart(before)))) {
    const end = before.replace(/\s+#.*$/, "").trimEnd().length;
    // Named only when it is one word, as a key is: the line could be a value (a key file's key) broken across lines.
    const bare = before.slice(contentStart(before), end);
    const opener = /^[A-Za-z_][A-Za-z0-9_]*$/.test(bare) ? bare : undefined;
    const problem = opener ? `missing ":" after ${opener}?` : 'missing ":" at the end of this line?';
    return { line: p + 1, column: end + 1, problem, named: opener };
  }
  const nested = /:\s+[^"'\s[{][^#]*?:(\s|$)/.exec(content);
  if (nested && hasKey(content)) return here(start + nested.index + nested[0].trimEnd().length, 'a value holding ": " must be quoted');
  if (before !== undefined && hasKey(content) && indentOf(line) !== contentStart(before) && indentOf(line) !== indentOf(before))
    return here(indentOf(line) + 1, "this line's indentation does not line up with the lines above it");
  return here(start + 1, `YAML cannot read this line (${reason})`);
}

/** A quote, bracket or brace opened on this line and never closed on it: where it opens. */
function unclosed(line: string): { column: number; problem: string } | undefined {
  const stack: { char: string; at: number }[] = [];
  let quote: { char: string; at: number } | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (quote.char === '"' && c === "\\") i++;
      else if (c === quote.char && quote.char === "'" && line[i + 1] === "'") i++;
      else if (c === quote.char) quote = undefined;
      continue;
    }
    // A quote starts a value only where a value starts: at the line's start or after ": ", "- ", "[", "{" or ",".
    if ((c === '"' || c === "'") && /(^|[:\-[{,])\s*$|^\s*$/.test(line.slice(0, i))) quote = { char: c, at: i };
    else if (c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break;
    else if (c === "[" || c === "{") stack.push({ char: c, at: i });
    else if ((c === "]" || c === "}") && stack.length > 0) stack.pop();
  }
  if (quote) return { column: quote.at + 1, problem: `this ${quote.char} opens a quoted value that is not closed on its line` };
  const last = stack.at(-1);
  if (last) return { column: last.at + 1, problem: `this ${last.char} is not closed on its line (${last.char === "[" ? "]" : "}"} is missing)` };
  return undefined;
}

/** The line and a caret under the column, indented to sit under a problem line; its values masked (maskValues). */
export function excerpt(text: string, p: YamlProblem, indent = "    "): string {
  if (p.line === undefined || p.column === undefined) return "";
  const source = (text.split("\n")[p.line - 1] ?? "").replace(/\r$/, "");
  // A tab is shown as one space, so the caret stays under the character it points at.
  const shown = maskValues(source, p.named).replace(/\t/g, " ");
  const gutter = String(p.line);
  return `\n${indent}${gutter} | ${shown}\n${indent}${" ".repeat(gutter.length)} | ${" ".repeat(p.column - 1)}^`;
}

// A quoted scalar (perhaps left open), a comment, or a run of plain text.
const TOKEN = /"(?:[^"\\]|\\.)*"?|'(?:[^']|'')*'?|(?<=^|\s)#.*$|[^\s,[\]{}"']+/g;
const REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/;
const NUMBER = /^[0-9][0-9.:]*$/;
const star = (s: string) => s.replace(/\S/g, "*");

/**
 * The line with every value masked, character for character (the caret stays where it points): the line at
 * fault may be `key: "sk-…"` of a keys file or an SSH password, and an error message is printed and logged.
 * Keys (`word:`), the list's `-`, `${NAME}` references, numbers and addresses stay, and `named`, a word the
 * problem already names.
 */
export function maskValues(line: string, named?: string): string {
  return line.replace(TOKEN, (t) => {
    if (t.startsWith("#")) return `#${star(t.slice(1))}`;
    if (t.startsWith('"') || t.startsWith("'")) {
      const q = t[0]!;
      const closed = t.length > 1 && t.endsWith(q);
      const inner = t.slice(1, closed ? -1 : undefined);
      return REFERENCE.test(inner) ? t : `${q}${star(inner)}${closed ? q : ""}`;
    }
    if (t === "-" || t === named || REFERENCE.test(t) || NUMBER.test(t) || /^[A-Za-z_][A-Za-z0-9_.-]*:$/.test(t)) return t;
    return star(t);
  });
}
