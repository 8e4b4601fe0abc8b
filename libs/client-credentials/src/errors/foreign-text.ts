/** The longest foreign text an error carries. */
const MAX_FOREIGN_TEXT = 200;
/** A compact JWS/JWT (a token or an assertion). */
const JWT = /eyJ[\w-]*\.[\w-]*\.[\w-]*/g;
/** `sig=…`, `client_secret=…`, `password=…`, `AccountKey=…`: the value of a credential field. */
const CREDENTIAL_FIELD = /\b([\w-]*(?:sig|secret|password|key))=[^&\s;,)"']+/gi;

/**
 * Text the library did not write — an endpoint's reason, the message of an app callback's error —
 * as an error message, log line or health report may carry it: its first line, credential fields'
 * values and anything shaped like a JWT cut out, at most 200 characters. Such text often quotes
 * the request that failed (a SAS URL, the token it sent); it has no business in logs.
 */
export function foreignText(text: string): string {
  return text
    .split(/\r?\n/)[0]
    .replace(JWT, '[token]')
    .replace(CREDENTIAL_FIELD, '$1=[redacted]')
    .trim()
    .slice(0, MAX_FOREIGN_TEXT);
}

/** The message of whatever a callback threw, as {@link foreignText}. */
export function thrownText(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return foreignText(text) || (e instanceof Error ? e.name : 'no message');
}
