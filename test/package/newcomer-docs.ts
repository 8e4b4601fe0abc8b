/**
 * What the outside-app test reads from the docs: the `npm install` lines a newcomer types, the
 * files the docs show in full (```ts file=src/…), and the output a doc says a command prints.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { docFiles, fences } from '../../scripts/docs/markdown';

const ROOT = join(__dirname, '../..');

export const read = (doc: string): string => readFileSync(join(ROOT, doc), 'utf8');

/** The text of `markdown` from the heading `## title` to the next `## ` heading. */
export function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start === -1) throw new Error(`no section '## ${title}'`);
  const end = markdown.indexOf('\n## ', start + 1);
  return markdown.slice(start, end === -1 ? undefined : end);
}

/** One `npm install` line of a ```bash block: its packages (`-D`: dev), comments left out. */
export interface NpmInstall {
  line: string;
  dev: boolean;
  packages: string[];
}

export function npmInstalls(markdown: string): NpmInstall[] {
  return fences(markdown)
    .filter((f) => f.lang === 'bash' || f.lang === 'sh')
    .flatMap((f) => f.code.split('\n'))
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter((line) => /^npm (install|i) /.test(line))
    .map((line) => {
      const words = line.split(/\s+/).slice(2);
      return {
        line,
        dev: words.includes('-D') || words.includes('--save-dev'),
        packages: words.filter((w) => !w.startsWith('-')),
      };
    });
}

/** The package's name in an install argument: `typescript@6` → `typescript`, `@types/node` as is. */
export const packageName = (spec: string): string => spec.replace(/(?!^)@.*$/, '');

/** The files `doc` shows in full, by path. */
export function filesOf(doc: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of docFiles(read(doc))) files.set(f.path, f.content);
  return files;
}

/** The plain ``` block right after the block of `file` in `doc`: the output the doc shows. */
export function outputAfter(doc: string, file: string): string {
  const all = fences(read(doc));
  const i = all.findIndex((f) => f.attrs.file === file);
  const next = all[i + 1];
  if (i === -1 || next === undefined || next.lang !== '')
    throw new Error(`${doc}: no output block after ${file}`);
  return next.code;
}
