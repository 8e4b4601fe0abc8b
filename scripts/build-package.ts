// Builds the publishable package: tsc (JavaScript + declarations) into dist/package, plus the
// package's manifest, README, LICENSE, CHANGELOG and the docs (docs/*.md → docs/), so that an
// installed copy carries its documentation; `--pack` then writes the tarball (npm pack) into dist/.
// `nest build` of the apps is not involved: it writes dist/apps/* and never dist/package.
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { isRelative, links } from './docs/markdown';

const root = join(__dirname, '..');
const lib = join(root, 'libs/client-credentials');
const out = join(root, 'dist/package');

interface Manifest {
  version: string;
  repository?: string | { url: string };
}

/** Markdown files shipped in the package: repository path → path in the package. */
export function shippedDocs(repoRoot = root): Map<string, string> {
  const shipped = new Map<string, string>([
    ['libs/client-credentials/README.md', 'README.md'],
    ['CHANGELOG.md', 'CHANGELOG.md'],
  ]);
  for (const file of readdirSync(join(repoRoot, 'docs')).sort())
    if (file.endsWith('.md')) shipped.set(`docs/${file}`, `docs/${file}`);
  return shipped;
}

/** The repository's web address for a file, from the manifest's `repository` (none yet). */
function repositoryUrl(manifest: Manifest, path: string): string | undefined {
  const repo =
    typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
  if (repo === undefined) return undefined;
  const base = repo.replace(/^git\+/, '').replace(/\.git$/, '');
  return `${base}/blob/v${manifest.version}/${path}`;
}

/**
 * `markdown` (the repository file `from`) as shipped at `to` in the package: a relative link to a
 * shipped file points at its copy; a link to a file the package does not ship (a test, a script)
 * points at the repository's web address when the manifest has one, and is otherwise reduced to
 * its text — never a link that is dead in node_modules/nest-client-credentials/. A link to a file
 * that does not exist fails the build.
 */
export function shipMarkdown(
  markdown: string,
  from: string,
  to: string,
  shipped: Map<string, string>,
  manifest: Manifest,
  repoRoot = root,
): string {
  let result = '';
  let last = 0;
  for (const link of links(markdown)) {
    if (!isRelative(link.target)) continue;
    const [path, hash] = link.target.split('#', 2);
    const target = posix.normalize(posix.join(posix.dirname(from), path));
    const suffix = hash === undefined ? '' : `#${hash}`;
    let replacement: string;
    const copy = shipped.get(target);
    if (copy !== undefined) {
      const rel = posix.relative(posix.dirname(to), copy) || posix.basename(copy);
      replacement = `[${link.text}](${rel}${suffix})`;
    } else if (existsSync(join(repoRoot, target))) {
      const url = repositoryUrl(manifest, target);
      replacement = url === undefined ? link.text : `[${link.text}](${url}${suffix})`;
    } else {
      throw new Error(`${from}: the link to '${link.target}' points at no file (${target})`);
    }
    result += markdown.slice(last, link.index) + replacement;
    last = link.index + link.length;
  }
  return result + markdown.slice(last);
}

function build(): void {
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(lib, 'tsconfig.package.json')],
    { stdio: 'inherit' },
  );
  for (const file of ['package.json', 'LICENSE']) copyFileSync(join(lib, file), join(out, file));
  const manifest = JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8')) as Manifest;
  const shipped = shippedDocs();
  for (const [from, to] of shipped) {
    mkdirSync(dirname(join(out, to)), { recursive: true });
    const text = readFileSync(join(root, from), 'utf8');
    writeFileSync(join(out, to), shipMarkdown(text, from, to, shipped, manifest));
  }
}

function pack(): void {
  // npm prints its summary (every file with its size, then the tarball's size and integrity) to
  // stderr, passed through; stdout is the tarball's name, printed here as a path, last.
  const name = execFileSync('npm', ['pack', '--pack-destination', join(root, 'dist')], {
    cwd: out,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const tarball = join(root, 'dist', name.split('\n').pop() ?? name);
  process.stderr.write(
    `\nIn your app's folder (docs/getting-started.md): npm install ${tarball}\n\n`,
  );
  console.log(tarball);
}

if (require.main === module) {
  // Clean first: a file deleted from the sources must not linger in the package.
  rmSync(out, { recursive: true, force: true });
  build();
  if (process.argv.includes('--pack')) pack();
}
