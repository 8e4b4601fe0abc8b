import { isAlias, LineCounter, parseDocument, visit, type YAMLError } from 'yaml';
import * as m from './config.messages';

/**
 * The configuration file's text as a value, or the problems that keep it from being one.
 *
 * The yaml package's own messages quote the source (an unresolved `*alias` by its name, a bad
 * block scalar header, a tag, the whole line under a warning), and a secret may be that text: a
 * problem here names only the kind of mistake and its line and column. Nothing is printed either:
 * the package would emit its warnings (an unknown `!tag`) as process warnings, on stderr, with the
 * line; they are read from the document instead, each a problem, since the value it stands for is
 * not what was written (`secret: !abc` reads as an empty string).
 */
export function readYaml(text: string): { value?: unknown; problems: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, logLevel: 'silent', prettyErrors: false });
  const at = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}`;
  };
  const describe = (e: YAMLError) => `${at(e.pos[0])}: ${m.yamlProblem(e.code)}`;
  const problems = [...doc.errors.map(describe), ...doc.warnings.map(describe)];
  // An alias whose anchor is not set before it fails only when the value is built, with a message
  // naming it: found here first, by position.
  visit(doc, {
    Alias: (_key, node) => {
      if (isAlias(node) && node.resolve(doc) === undefined)
        problems.push(`${at(node.range?.[0] ?? 0)}: ${m.yamlProblem('BAD_ALIAS')}`);
    },
  });
  if (problems.length > 0) return { problems };
  try {
    return { value: doc.toJS({ maxAliasCount: 100 }), problems };
  } catch (e) {
    // Excessive aliases (a "billion laughs" file) and the like: the kind, never the message.
    return { problems: [m.yamlProblem((e as { code?: string }).code ?? 'ALIAS_LIMIT')] };
  }
}

/** Text of an override that YAML would read as a number and that reads back the same: `8080`, `-1.5`. */
const NUMBER = /^-?\d+(\.\d+)?$/;

/**
 * Keys whose value is a secret (or key material): an override of one is always its text, never a
 * number, so `12345678` stays the eight characters that were set.
 */
const SECRET_KEYS = new Set([
  'secret',
  'passphrase',
  'password',
  'privateKey',
  'certificate',
  'key',
]);

/**
 * The value of a `DAEMON__…` override: `true`/`false` and plain numbers whose text round-trips
 * (`8080`, `0.5`; not `007`, `1e3`, `0x1F`) are read as such; anything else — and anything set
 * under a secret's key — is the text as set. Never YAML: an override is a value, not a document, so
 * `!abc`, `&a b`, `a #b` and `"a"` are those characters, not a tag, an anchor, a comment or quotes.
 */
export function overrideValue(text: string, key: string): unknown {
  if (SECRET_KEYS.has(key)) return text;
  if (text === 'true' || text === 'false') return text === 'true';
  if (NUMBER.test(text) && String(Number(text)) === text) return Number(text);
  return text;
}
