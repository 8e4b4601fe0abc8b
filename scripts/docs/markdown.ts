/**
 * What the doc tooling reads in Markdown: fenced code blocks (the samples that are type-checked
 * and run) and relative links (rewritten when the docs are shipped in the package). Deliberately
 * small: the repository's docs use plain ``` fences and inline `[text](target)` links only.
 */

/** A fenced code block of a Markdown file. */
export interface Fence {
  /** The language: the first word of the info string (`ts`, `bash`…), or `''`. */
  lang: string;
  /** The other words of the info string: `fragment` as `{ fragment: 'true' }`, `file=x` as `{ file: 'x' }`. */
  attrs: Record<string, string>;
  /** The block's text, without the fences. */
  code: string;
  /** 1-based line of the block's first code line in the Markdown file. */
  line: number;
  /**
   * Hidden context for the type check: the body of a `<!-- doc-sample … -->` comment right before
   * the block (blank lines between allowed) — declarations a sample relies on without showing them.
   */
  context?: string;
}

const FENCE_OPEN = /^(\s*)(`{3,}|~{3,})(.*)$/;
const CONTEXT = /^<!--\s*doc-sample\b([\s\S]*?)-->\s*$/;

/** Every fenced code block of `markdown`, in order. */
export function fences(markdown: string): Fence[] {
  const lines = markdown.split('\n');
  const found: Fence[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE_OPEN.exec(lines[i]);
    if (!open) continue;
    const [, indent, marker, info] = open;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j];
      if (line.trim().startsWith(marker) && line.trim().replace(/[`~]/g, '') === '') break;
      body.push(indent && line.startsWith(indent) ? line.slice(indent.length) : line);
    }
    const [lang = '', ...words] = info.trim().split(/\s+/).filter(Boolean);
    const attrs: Record<string, string> = {};
    for (const word of words) {
      const eq = word.indexOf('=');
      if (eq === -1) attrs[word] = 'true';
      else attrs[word.slice(0, eq)] = word.slice(eq + 1);
    }
    const before = lines.slice(0, i).join('\n');
    const context = CONTEXT.exec(before.slice(before.lastIndexOf('<!--')))?.[1]?.replace(/^\n/, '');
    found.push({
      lang,
      attrs,
      code: body.join('\n'),
      line: i + 2,
      ...(context === undefined ? {} : { context }),
    });
    i = j;
  }
  return found;
}

/** An inline link `[text](target)` outside code blocks and code spans. */
export interface Link {
  text: string;
  target: string;
  /** Offset of the `[` in the Markdown text. */
  index: number;
  /** Length of the whole `[text](target)`. */
  length: number;
}

/** Offsets of the text covered by fenced blocks and code spans, where nothing is a link. */
function codeRanges(markdown: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  const lines = markdown.split('\n');
  let offset = 0;
  let fenceStart: number | undefined;
  let marker = '';
  for (const line of lines) {
    const open = FENCE_OPEN.exec(line);
    if (fenceStart === undefined && open) {
      fenceStart = offset;
      marker = open[2];
    } else if (fenceStart !== undefined && line.trim().startsWith(marker)) {
      if (line.trim().replace(/[`~]/g, '') === '') {
        ranges.push([fenceStart, offset + line.length]);
        fenceStart = undefined;
      }
    }
    offset += line.length + 1;
  }
  if (fenceStart !== undefined) ranges.push([fenceStart, markdown.length]);
  // A code span ends at the same run of backticks, within its paragraph.
  const span = /(`+)(?:(?!\n[ \t]*\n)[\s\S])*?[^`]\1(?!`)/g;
  for (let m = span.exec(markdown); m; m = span.exec(markdown))
    if (!ranges.some(([a, b]) => m.index >= a && m.index < b))
      ranges.push([m.index, m.index + m[0].length]);
  return ranges;
}

/** Every inline link of `markdown` (images and links inside code excluded). */
export function links(markdown: string): Link[] {
  const code = codeRanges(markdown);
  const inCode = (i: number) => code.some(([a, b]) => i >= a && i < b);
  const found: Link[] = [];
  // Link text may hold code spans (`[`x`](y)`), never a nested `]`.
  const link = /(!?)\[((?:`[^`]*`|[^\]`])*)\]\(([^()\s]+)\)/g;
  for (let m = link.exec(markdown); m; m = link.exec(markdown)) {
    if (m[1] === '!' || inCode(m.index)) continue;
    found.push({ text: m[2], target: m[3], index: m.index, length: m[0].length });
  }
  return found;
}

/** Whether a link target points into this repository (not a URL, not an anchor of the page). */
export function isRelative(target: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('#');
}

/**
 * GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped, spaces
 * to `-` (each one: "a — b" gives `a--b`).
 */
export function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of every heading of `markdown`, repeated headings numbered as GitHub does. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const code = codeRanges(markdown);
  let offset = 0;
  for (const line of markdown.split('\n')) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading && !code.some(([a, b]) => offset >= a && offset < b)) {
      const base = anchor(heading[1]);
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      result.add(n === 0 ? base : `${base}-${n}`);
    }
    offset += line.length + 1;
  }
  return result;
}

/** The files a doc shows in full: its blocks marked `file=<path>`, by path, in order. */
export function docFiles(markdown: string): Array<{ path: string; content: string; line: number }> {
  return fences(markdown)
    .filter((f) => f.attrs.file !== undefined)
    .map((f) => ({ path: f.attrs.file, content: `${f.code}\n`, line: f.line }));
}
