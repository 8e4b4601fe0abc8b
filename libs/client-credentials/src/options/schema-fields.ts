/* Field schemas shared by the schemas of credentials and of their sources. */
import { z } from 'zod';

/** A required, non-empty string; messages say what to set. */
export const nonEmpty = (what: string, fix: string) =>
  z
    .string({
      error: (i) => (i.input === undefined ? `is required — ${fix}` : `must be a string — ${fix}`),
    })
    .trim()
    .min(1, { error: `must not be empty — ${what}` });

/** PEM text (not a path). */
export const pemLike = z.string().refine((v) => v.includes('-----BEGIN '), {
  error: 'must be PEM text (-----BEGIN …) — pass the file contents, not a path',
});

/** An optional string that, when given, is not empty. */
export const optionalText = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must not be empty — set a value or leave the field out' });
