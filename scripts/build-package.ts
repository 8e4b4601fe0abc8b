// Builds the publishable package: tsc (JavaScript + declarations) into dist/package, plus the
// package's manifest, README and LICENSE; `--pack` then writes the tarball (npm pack) into dist/.
// `nest build` of the apps is not involved: it writes dist/apps/* and never dist/package.
import { execFileSync } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(__dirname, '..');
const lib = join(root, 'libs/client-credentials');
const out = join(root, 'dist/package');

rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(lib, 'tsconfig.package.json')],
  {
    stdio: 'inherit',
  },
);
for (const file of ['package.json', 'README.md', 'LICENSE'])
  copyFileSync(join(lib, file), join(out, file));
if (process.argv.includes('--pack')) {
  // npm prints its summary (every file with its size, then the tarball's size and integrity) to
  // stderr, passed through; stdout is the tarball's name, printed here as a path, last.
  const name = execFileSync('npm', ['pack', '--pack-destination', join(root, 'dist')], {
    cwd: out,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  console.log(join(root, 'dist', name.split('\n').pop() ?? name));
}
