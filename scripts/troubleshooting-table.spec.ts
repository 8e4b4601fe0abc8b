import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CATALOG } from '../libs/client-credentials/src/errors/error-catalog';
import { DOC_PATH, renderDoc } from './troubleshooting-table';

describe('docs/troubleshooting.md', () => {
  it('lists every error code and AADSTS hint exactly as the catalogue in code says', () => {
    const doc = readFileSync(DOC_PATH, 'utf8');
    // If this fails, run `npm run docs:errors` and commit the doc.
    expect(doc).toBe(renderDoc(doc));
  });
});

describe('the catalogue', () => {
  const SRC = join(__dirname, '..', 'libs', 'client-credentials', 'src');
  /** Subclasses of ours that are not a class of the table: thrown as their base. */
  const BASE: Record<string, string> = { SourceUnavailableError: 'ClientCredentialsError' };

  function* sources(dir: string): Generator<string> {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) yield* sources(path);
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) yield path;
    }
  }

  // The sites that write the code out; those that pass one on (an AuthorityFailure's kind, a
  // shared failure's record) are checked by to-client-credentials-error.spec.ts.
  it('names, for each code, the class that every throw site writing it out uses', () => {
    const thrown: string[] = [];
    for (const file of sources(SRC)) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new (\w+Error)\(\s*'(\w+)'/g)) {
        const [, cls, code] = m;
        if (!Object.hasOwn(ERROR_CATALOG, code)) continue; // another family (DownstreamApiError)
        const row = ERROR_CATALOG[code as keyof typeof ERROR_CATALOG];
        if ((BASE[cls] ?? cls) !== row.class) thrown.push(`${file}: ${code} as ${cls}`);
      }
    }
    expect(thrown).toEqual([]);
  });
});
