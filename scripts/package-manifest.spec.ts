import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..');
const json = (path: string) =>
  JSON.parse(readFileSync(join(ROOT, path), 'utf8')) as {
    name: string;
    version: string;
    engines: { node: string };
    files?: string[];
    repository?: unknown;
    homepage?: unknown;
  };

/** One version everywhere, and the docs name the tarball `npm run pack:package` writes. */
describe('the package manifest', () => {
  const root = json('package.json');
  const pkg = json('libs/client-credentials/package.json');

  it('has the version and engines of the repository', () => {
    expect(pkg.version).toBe(root.version);
    expect(pkg.engines.node).toBe(root.engines.node);
  });

  it('has a CHANGELOG section for its version', () => {
    expect(readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8')).toMatch(
      new RegExp(`^## \\[${pkg.version.replace(/\./g, '\\.')}\\]`, 'm'),
    );
  });

  it.each(['README.md', 'docs/getting-started.md'])(
    '%s installs the tarball of this version',
    (doc) => {
      expect(readFileSync(join(ROOT, doc), 'utf8')).toContain(
        `npm install /path/to/${pkg.name}-${pkg.version}.tgz`,
      );
    },
  );

  it('ships its docs and changelog, and names no home it does not have', () => {
    expect(pkg.files).toEqual(expect.arrayContaining(['docs/*.md', 'README.md', 'CHANGELOG.md']));
    // docs/RELEASING.md: set both (and bugs) once the project has a public home — never a guess.
    expect(pkg.repository === undefined).toBe(pkg.homepage === undefined);
  });
});
