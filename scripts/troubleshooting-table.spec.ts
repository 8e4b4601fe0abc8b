import { readFileSync } from 'node:fs';
import { DOC_PATH, renderDoc } from './troubleshooting-table';

describe('docs/troubleshooting.md', () => {
  it('lists every error code and AADSTS hint exactly as the catalogue in code says', () => {
    const doc = readFileSync(DOC_PATH, 'utf8');
    // If this fails, run `npm run docs:errors` and commit the doc.
    expect(doc).toBe(renderDoc(doc));
  });
});
