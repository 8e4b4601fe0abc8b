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

/**
 * Text of an override that YAML 1.2 reads as a decimal number (`8080`, `-1.5`, `30.0`, `1e3`,
 * `+5`, `.5`) — but for a whole number with a leading zero (`007`, `01`): an id (a client id, a
 * PKCS#11 `keyId`) far more often than a number, kept as text.
 */
const NUMBER = /^[-+]?(\.\d+|\d+(\.\d*)?)([eE][-+]?\d+)?$/;
const LEADING_ZERO = /^[-+]?0\d/;

/** YAML 1.2's booleans (its core schema): `true`, `True`, `TRUE` and the same of `false`. */
const BOOLEANS: ReadonlyMap<string, boolean> = new Map([
  ['true', true],
  ['True', true],
  ['TRUE', true],
  ['false', false],
  ['False', false],
  ['FALSE', false],
]);

/**
 * What YAML 1.2 reads an override's text as: the booleans and decimal numbers it reads as such
 * (`true`, `TRUE`, `8080`, `30.0`, `1e3`; not `007`, `0x1F`, `yes`) are those; anything else is
 * the text as set. Never YAML: an override is a value, not a document, so `!abc`, `&a b`, `a #b`
 * and `"a"` are those characters, not a tag, an anchor, a comment or quotes. Whether the number or
 * boolean is taken depends on the field the override sets (`env-overrides.ts`).
 */
export function overrideValue(text: string): string | number | boolean {
  const flag = BOOLEANS.get(text);
  if (flag !== undefined) return flag;
  if (NUMBER.test(text) && !LEADING_ZERO.test(text) && Number.isFinite(Number(text))) {
    return Number(text);
  }
  return text;
}
