/**
 * Renders the tables of docs/troubleshooting.md from the library's error catalogue, the one source
 * of truth. `npm run docs:errors` rewrites the doc; a spec fails when the doc is out of step.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CALLING_ERROR_CATALOG } from '../libs/client-credentials/src/calling/calling.errors';
import {
  AADSTS_CATALOG,
  AGENT_AADSTS_CATALOG,
  ERROR_CATALOG,
  type ErrorClassName,
} from '../libs/client-credentials/src/errors/error-catalog';

export const DOC_PATH = join(__dirname, '..', 'docs', 'troubleshooting.md');
const BEGIN = '<!-- BEGIN GENERATED: npm run docs:errors -->';
const BEGIN_CLASSES = '<!-- BEGIN GENERATED: npm run docs:errors (classes) -->';
const END = '<!-- END GENERATED -->';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** When each class is thrown, in the order the class table lists them. */
const CLASS_WHEN: Record<ErrorClassName, string> = {
  ConfigurationError:
    "`app.init()`, or where a calling integration is created (createAuthenticatedFetch's `maxRedirects`); `error.problems` lists each bad field",
  InvalidRequestError: 'a call that cannot be made as asked, before any network call',
  TokenRequestRejectedError:
    'the authority, or what answers at its address (a redirect), refused; retrying does not help',
  TokenEndpointError: 'the authority could not be used right now and no valid token was cached',
  ClientCredentialsError:
    "the rest: the app's side (a hook, a callback, a certificate, a signer, a source), msal, a failed warm-up, an abort, a shutdown",
};

/** The class table: every code of the catalogue under the class it is thrown as. */
export function renderClassTable(): string {
  const rows = (Object.keys(CLASS_WHEN) as ErrorClassName[]).map((name) => {
    const codes = Object.entries(ERROR_CATALOG).filter(([, row]) => row.class === name);
    const transient = new Set(codes.map(([, row]) => row.transient));
    const varies = codes.filter(([, row]) => row.transient === 'varies').map(([c]) => `\`${c}\``);
    const fixed = [...transient].filter((t) => t !== 'varies').join(', ');
    const read = `${varies.join(', ')}: read \`error.transient\``;
    const cells = [
      `\`${name}\``,
      codes.map(([code]) => `\`${code}\``).join(', '),
      varies.length === 0 ? fixed : fixed === '' ? read : `${fixed}; ${read}`,
      cell(CLASS_WHEN[name]),
    ];
    return `| ${cells.join(' | ')} |`;
  });
  return [
    BEGIN_CLASSES,
    '| Class | Codes | `transient` | When |',
    '| --- | --- | --- | --- |',
    ...rows,
    END,
  ].join('\n');
}

/** The generated tables at the end of the doc: library codes, codes of calls to APIs, AADSTS numbers. */
export function renderTables(): string {
  const codes = Object.entries(ERROR_CATALOG).map(
    ([code, h]) => `| \`${code}\` | ${cell(h.cause)} | ${cell(h.fix)} |`,
  );
  const calling = Object.entries(CALLING_ERROR_CATALOG).map(
    ([code, h]) => `| \`${code}\` | ${cell(h.cause)} | ${cell(h.fix)} |`,
  );
  const aadsts = Object.entries(AADSTS_CATALOG).map(
    ([n, h]) => `| AADSTS${n} | ${cell(h.cause)} | ${cell(h.fix)} |`,
  );
  const agent = Object.entries(AGENT_AADSTS_CATALOG).map(
    ([n, h]) => `| AADSTS${n} | ${cell(h.cause)} | ${cell(h.fix)} |`,
  );
  return [
    BEGIN,
    '### Error codes (`error.code`)',
    '',
    '| Code | Cause | Fix |',
    '| --- | --- | --- |',
    ...codes,
    '',
    '### Errors of calls to APIs (`DownstreamApiError.code`)',
    '',
    '| Code | Cause | Fix |',
    '| --- | --- | --- |',
    ...calling,
    '',
    '### Entra ID error numbers (`error.aadsts`)',
    '',
    '| AADSTS | Cause | Fix |',
    '| --- | --- | --- |',
    ...aadsts,
    '',
    '### Entra ID error numbers of agent identities (`error.agent` set)',
    '',
    "An error of an agent's token request (Microsoft Entra Agent ID: the blueprint's token exchange token, the agent's own token, its agent user's; [agents.md](agents.md)) takes its hint from this table first.",
    '',
    '| AADSTS | Cause | Fix |',
    '| --- | --- | --- |',
    ...agent,
    END,
  ].join('\n');
}

/** `doc` with the generated part that starts with `begin` replaced by `content`. */
function replaceSection(doc: string, begin: string, content: string): string {
  const start = doc.indexOf(begin);
  const end = start < 0 ? -1 : doc.indexOf(END, start);
  if (start < 0 || end < 0) throw new Error(`${DOC_PATH} lacks the markers ${begin} … ${END}`);
  return doc.slice(0, start) + content + doc.slice(end + END.length);
}

/** The doc with its generated parts replaced by `renderClassTable()` and `renderTables()`. */
export function renderDoc(current: string): string {
  const classes = replaceSection(current, BEGIN_CLASSES, renderClassTable());
  return replaceSection(classes, BEGIN, renderTables());
}

if (require.main === module) {
  writeFileSync(DOC_PATH, renderDoc(readFileSync(DOC_PATH, 'utf8')));
  console.log(`wrote ${DOC_PATH}`);
}
