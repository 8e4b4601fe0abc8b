/**
 * `npm run lint:docs` (part of `npm run lint`): the docs are tested like code.
 *
 * 1. Every TypeScript sample (a ```ts block) of README.md, CHANGELOG.md, docs/*.md and the
 *    package's README compiles, `strict`, against the library's sources: the package's names
 *    (`nest-client-credentials`, `nest-client-credentials/testing`…: its entry points, read from
 *    libs/client-credentials/package.json) are mapped to libs/client-credentials/src with tsconfig
 *    `paths`; the in-repo alias `@app/…` is not mapped, so a sample a user would copy cannot use it.
 *    - ```ts file=src/app.module.ts — a file of an app: written at that path, beside the other
 *      file= blocks of the same doc, so they import each other (`./app.module`).
 *    - ```ts fragment — not compiled (a piece of an object, a line of a signature): use sparingly.
 *    - `<!-- doc-sample … -->` right before a block — hidden declarations it relies on (e.g.
 *      `declare const tokens: TokenService;`), compiled with it, not shown.
 * 2. Every relative link of those files points at a file that exists, and an anchor at a heading
 *    of the page it names; every path they name in a code span (`test/…`, `libs/…`, or a bare
 *    `file.ts`) exists in the repository.
 *
 * Failures are printed as `docs/x.md:LINE: message`. The samples are written under
 * dist/doc-samples/ (git-ignored) and type-checked there by one tsc run.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { anchors, fences, isRelative, links, type Fence } from './docs/markdown';

const ROOT = join(__dirname, '..');
const OUT = join(ROOT, 'dist/doc-samples');

/** The Markdown files whose samples and links are checked, relative to the repository. */
export function checkedDocs(root = ROOT): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', 'CHANGELOG.md', 'libs/client-credentials/README.md', ...docs];
}

/** tsconfig `paths` for the package's entry points, from its manifest's `exports`. */
export function packagePaths(root = ROOT): Record<string, string[]> {
  const manifest = JSON.parse(
    readFileSync(join(root, 'libs/client-credentials/package.json'), 'utf8'),
  ) as { name: string; exports: Record<string, string | { types?: string }> };
  const paths: Record<string, string[]> = {};
  for (const [entry, target] of Object.entries(manifest.exports)) {
    const types = typeof target === 'string' ? undefined : target.types;
    if (types === undefined) continue;
    const source = types.replace(/^\.\//, '').replace(/\.d\.ts$/, '.ts');
    paths[posix.join(manifest.name, entry)] = [posix.join('../..', source)];
  }
  return paths;
}

/** Whether a block is a TypeScript sample to compile. */
export function isCompiled(fence: Fence): boolean {
  return (fence.lang === 'ts' || fence.lang === 'typescript') && fence.attrs.fragment !== 'true';
}

interface Written {
  doc: string;
  fence: Fence;
  /** Lines of hidden context before the sample's first line. */
  contextLines: number;
}

/** Writes the samples of `docs` under `out`; returns where each came from, by written path. */
export function writeSamples(docs: string[], root = ROOT, out = OUT): Map<string, Written> {
  rmSync(out, { recursive: true, force: true });
  const written = new Map<string, Written>();
  for (const doc of docs) {
    const dir = join(out, doc.replace(/\.md$/, '').replace(/\//g, '__'));
    for (const fence of fences(readFileSync(join(root, doc), 'utf8'))) {
      if (!isCompiled(fence)) continue;
      const file = join(dir, fence.attrs.file ?? `sample-line-${fence.line}.ts`);
      if (written.has(file)) throw new Error(`${doc}:${fence.line}: a second block for ${file}`);
      const context = fence.context ?? '';
      const contextLines = context === '' ? 0 : context.split('\n').length;
      // A sample without imports or exports would be a script sharing one global scope with
      // the others: `export {}` keeps each a module.
      const text = `${context === '' ? '' : `${context}\n`}${fence.code}\nexport {};\n`;
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      written.set(file, { doc, fence, contextLines });
    }
  }
  writeFileSync(
    join(out, 'tsconfig.json'),
    JSON.stringify(
      {
        compilerOptions: {
          strict: true,
          // `preserve` + `bundler`: samples may use top-level await (test bodies, scripts), and
          // the library's sources compile as they are.
          module: 'preserve',
          moduleResolution: 'bundler',
          target: 'ES2022',
          lib: ['ES2023'],
          experimentalDecorators: true,
          emitDecoratorMetadata: true,
          esModuleInterop: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node', 'jest'],
          paths: packagePaths(root),
        },
        include: ['**/*.ts'],
      },
      null,
      2,
    ),
  );
  return written;
}

/** tsc's diagnostics for the written samples, each as `doc:line: message`. */
export function compileSamples(written: Map<string, Written>, root = ROOT, out = OUT): string[] {
  try {
    execFileSync(
      process.execPath,
      [
        join(root, 'node_modules/typescript/bin/tsc'),
        '-p',
        join(out, 'tsconfig.json'),
        '--pretty',
        'false',
      ],
      { cwd: out, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return [];
  } catch (e) {
    const output = `${(e as { stdout?: string }).stdout ?? ''}`;
    const problems: string[] = [];
    for (const line of output.split('\n')) {
      const m = /^(.+?)\((\d+),(\d+)\): (.*)$/.exec(line);
      if (!m) {
        if (line.trim() !== '' && problems.length > 0)
          problems[problems.length - 1] += ` ${line.trim()}`;
        else if (line.trim() !== '') problems.push(line);
        continue;
      }
      const [, file, l, , message] = m;
      const sample = written.get(join(out, file));
      if (sample === undefined) {
        problems.push(`${relative(root, join(out, file))}:${l}: ${message}`);
        continue;
      }
      const n = Number(l) - sample.contextLines;
      const where =
        n >= 1
          ? `${sample.fence.line + n - 1}`
          : `${sample.fence.line - 1} (its doc-sample context)`;
      problems.push(`${sample.doc}:${where}: ${message}`);
    }
    return problems.length > 0 ? problems : [output || String(e)];
  }
}

/** Relative links that point at no file, or at no heading of the page they name. */
export function checkLinks(docs: string[], root = ROOT): string[] {
  const problems: string[] = [];
  const anchorsOf = new Map<string, Set<string>>();
  const headings = (path: string) => {
    let found = anchorsOf.get(path);
    if (found === undefined) {
      found = anchors(readFileSync(join(root, path), 'utf8'));
      anchorsOf.set(path, found);
    }
    return found;
  };
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    for (const link of links(text)) {
      const line = text.slice(0, link.index).split('\n').length;
      if (link.target.startsWith('#')) {
        if (!headings(doc).has(link.target.slice(1)))
          problems.push(`${doc}:${line}: no heading for the anchor '${link.target}'`);
        continue;
      }
      if (!isRelative(link.target)) continue;
      const [path, hash] = link.target.split('#', 2);
      const target = posix.normalize(posix.join(posix.dirname(doc), path));
      if (!existsSync(join(root, target))) {
        problems.push(`${doc}:${line}: the link '${link.target}' points at no file (${target})`);
      } else if (hash !== undefined && target.endsWith('.md') && !headings(target).has(hash)) {
        problems.push(`${doc}:${line}: ${target} has no heading for the anchor '#${hash}'`);
      }
    }
  }
  return problems;
}

/** Files of an app the docs name that are no files of this repository. */
const APP_FILES = new Set(['vitest.config.ts', 'tsconfig.spec.json']);

/**
 * Paths the docs name in code spans: `test/…`, `libs/…` (any path under a folder of the
 * repository) must exist, and a bare `name.ts` must be the name of some file here — so that a
 * moved or renamed file cannot leave a doc pointing at nothing.
 */
export function checkPaths(docs: string[], root = ROOT): string[] {
  const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
  })
    .split('\n')
    .filter(Boolean);
  const names = new Set(files.map((f) => posix.basename(f)));
  const problems: string[] = [];
  for (const doc of docs) {
    const text = readFileSync(join(root, doc), 'utf8');
    const fenced = fences(text).map((f) => f.code);
    let prose = text;
    for (const code of fenced) prose = prose.replace(code, '');
    for (const m of prose.matchAll(/`([^`\s]+)`/g)) {
      const span = m[1];
      const line = text.slice(0, text.indexOf(m[0])).split('\n').length;
      if (/^(libs|apps|test|scripts|bench|docs)\/[\w./-]+$/.test(span)) {
        if (!existsSync(join(root, span)))
          problems.push(`${doc}:${line}: names \`${span}\`, which does not exist`);
      } else if (/^\w[\w.-]*\.(ts|js|cjs|mjs)$/.test(span) && !APP_FILES.has(span)) {
        if (!names.has(span))
          problems.push(`${doc}:${line}: names \`${span}\`, which is no file of this repository`);
      }
    }
  }
  return problems;
}

if (require.main === module) {
  const docs = checkedDocs();
  const written = writeSamples(docs);
  const problems = [...checkLinks(docs), ...checkPaths(docs), ...compileSamples(written)];
  if (problems.length > 0) {
    for (const p of problems) console.error(p);
    console.error(
      `check-docs: ${problems.length} problem(s) in the docs (samples compile against libs/client-credentials/src; ` +
        'mark a block that cannot compile alone ```ts fragment, or give it hidden context in <!-- doc-sample … -->)',
    );
    process.exit(1);
  }
  console.log(
    `check-docs: ${written.size} TypeScript samples compile; links of ${docs.length} files resolve`,
  );
}
