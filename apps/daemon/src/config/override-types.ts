import { z } from 'zod';
import { overrideValue } from './yaml-source';

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

/** Path of a value in the configuration: keys and list indexes. */
export type ConfigPath = readonly (string | number)[];

/**
 * An override set as its text where the daemon's schema does not say what the field is (a field
 * of a credential or an API, which the library reads): `value` is what YAML reads the text as, to
 * be taken instead if the library refuses the text there (`sendX5c=true`, `slot=3`).
 */
export interface UntypedOverride {
  readonly path: ConfigPath;
  readonly text: string;
  readonly value: number | boolean;
}

/**
 * The value an override's text stands for at `path`: typed by its target, never by its look. A
 * number or a boolean only where the daemon's schema wants one there (`health.port`,
 * `workers.<name>.enabled`) and the text reads as one; the text everywhere else — a client id, a
 * header, a PKCS#11 label or key id (`12345`, `2024`, `1e3`) stays what was set. Where the schema
 * does not know the field (`credentials.*`, `downstreamApis.*`: the library's), the text, and the
 * number or boolean it reads as in `untyped`, for {@link retypeRefused} to try.
 */
export function typedOverride(
  schema: z.ZodType,
  path: ConfigPath,
  text: string,
): { value: unknown; untyped?: UntypedOverride } {
  const read = overrideValue(text);
  if (typeof read === 'string' || SECRET_KEYS.has(String(path[path.length - 1]))) {
    return { value: text };
  }
  const kinds = kindsAt(schemasAt(schema, path));
  if (kinds === undefined) return { value: text, untyped: { path, text, value: read } };
  return { value: kinds.has(typeof read) ? read : text };
}

/**
 * Takes the number or boolean of each untyped override whose text the library refused at its
 * path (`problemsOf` reads the document again and returns its `path: message` lines), and keeps
 * it only if the library takes that instead: the text stays where neither is right, for the
 * message about it to be the text's.
 */
export function retypeRefused(
  raw: Record<string, unknown>,
  untyped: readonly UntypedOverride[],
  problemsOf: () => readonly string[],
): void {
  if (untyped.length === 0) return;
  const refused = (problems: readonly string[], o: UntypedOverride) => {
    const at = formatPath(o.path);
    return problems.some((p) => {
      const path = p.slice(0, p.indexOf(': '));
      return path === at || path.startsWith(`${at}.`) || path.startsWith(`${at}[`);
    });
  };
  const first = problemsOf();
  const retyped = untyped.filter((o) => refused(first, o));
  if (retyped.length === 0) return;
  for (const o of retyped) setAt(raw, o.path, o.value);
  const second = problemsOf();
  for (const o of retyped) if (refused(second, o)) setAt(raw, o.path, o.text);
}

/** `a.b[0].c` */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

function setAt(raw: Record<string, unknown>, path: ConfigPath, value: unknown): void {
  let target = raw as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  target[path[path.length - 1]] = value;
}

/**
 * The keys `schema` admits at `path`, or undefined where it does not say: a section the library
 * reads (`credentials.<name>`, `downstreamApis.<name>`), an entry of a list. Under a union (a
 * worker), the keys of every member (the member's own schema then judges the rest).
 */
export function schemaKeys(schema: z.ZodType, path: ConfigPath): readonly string[] | undefined {
  const objects = schemasAt(schema, path).filter((s) => s instanceof z.ZodObject);
  if (objects.length === 0) return undefined;
  return [...new Set(objects.flatMap((o) => Object.keys(o.shape)))];
}

/** The schemas `schema` has at `path`: one per member of a union that has it; none where it does not say. */
function schemasAt(schema: z.ZodType, path: ConfigPath): z.ZodType[] {
  let at = members(schema);
  for (const key of path) at = at.flatMap((s) => members(childOf(s, key)));
  return at;
}

function childOf(schema: z.ZodType, key: string | number): z.ZodType | undefined {
  if (schema instanceof z.ZodObject)
    return (schema.shape as Record<string, z.ZodType>)[String(key)];
  if (schema instanceof z.ZodRecord) return schema.valueType as z.ZodType;
  if (schema instanceof z.ZodArray) return schema.element as z.ZodType;
  return undefined;
}

/** A schema without its wrappers (default, optional, a transform's pipe); a union as its members. */
function members(schema: z.ZodType | undefined): z.ZodType[] {
  let at = schema;
  while (
    at instanceof z.ZodDefault ||
    at instanceof z.ZodOptional ||
    at instanceof z.ZodNullable ||
    at instanceof z.ZodPipe
  ) {
    at = (at instanceof z.ZodPipe ? at.in : at.unwrap()) as z.ZodType;
  }
  if (at === undefined) return [];
  if (at instanceof z.ZodUnion) return (at.options as z.ZodType[]).flatMap(members);
  return [at];
}

/**
 * The JS types (`number`, `boolean`, `string`, …) the schemas take at a path, or undefined where
 * they do not say (no schema there, or one that takes anything: a section the library reads).
 */
function kindsAt(schemas: readonly z.ZodType[]): Set<string> | undefined {
  if (
    schemas.length === 0 ||
    schemas.some((s) => s instanceof z.ZodUnknown || s instanceof z.ZodAny)
  )
    return undefined;
  const kinds = new Set<string>();
  for (const s of schemas) {
    if (s instanceof z.ZodNumber) kinds.add('number');
    else if (s instanceof z.ZodBoolean) kinds.add('boolean');
    else if (s instanceof z.ZodLiteral) for (const v of s.values) kinds.add(typeof v);
    else kinds.add('string');
  }
  return kinds;
}
