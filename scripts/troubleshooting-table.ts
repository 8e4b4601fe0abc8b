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
} from '../libs/client-credentials/src/errors/error-catalog';

export const DOC_PATH = join(__dirname, '..', 'docs', 'troubleshooting.md');
const BEGIN = '<!-- BEGIN GENERATED: npm run docs:errors -->';
const END = '<!-- END GENERATED -->';

const cell = (s: string) => s.replace(/\|/g, '\\|');

/** The generated part of the doc: library codes, codes of calls to APIs, AADSTS numbers. */
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

/** The doc with its generated part replaced by `renderTables()`. */
export function renderDoc(current: string): string {
  const start = current.indexOf(BEGIN);
  const end = current.indexOf(END);
  if (start < 0 || end < 0) throw new Error(`${DOC_PATH} lacks the generated-section markers`);
  return current.slice(0, start) + renderTables() + current.slice(end + END.length);
}

if (require.main === module) {
  writeFileSync(DOC_PATH, renderDoc(readFileSync(DOC_PATH, 'utf8')));
  console.log(`wrote ${DOC_PATH}`);
}
