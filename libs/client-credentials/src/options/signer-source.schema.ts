/* The schemas of the sources that sign with a key held elsewhere: signer, pkcs11, key-vault. */
import { z } from 'zod';
import { nonEmpty, optionalText, pemLike } from './schema-fields';

const signerFields = {
  algorithm: z
    .enum(['PS256', 'RS256', 'ES256'], { error: "must be 'PS256', 'RS256' or 'ES256'" })
    .optional(),
  sendX5c: z.boolean({ error: 'must be true or false' }).optional(),
};

/** `type: 'signer'`: a CertificateSigner of the app. */
export const signerSource = z.strictObject({
  type: z.literal('signer'),
  signer: z.custom<object>(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      typeof (v as { sign?: unknown }).sign === 'function' &&
      typeof (v as { getCertificate?: unknown }).getCertificate === 'function',
    { error: 'must be an object with getCertificate() and sign(data, algorithm, { signal })' },
  ),
  ...signerFields,
});

const oneOf = (fields: string[], s: Record<string, unknown>) =>
  fields.filter((f) => s[f] !== undefined).length === 1;

/** `type: 'pkcs11'`: a key on a PKCS#11 token. */
export const pkcs11Source = z
  .strictObject({
    type: z.literal('pkcs11'),
    modulePath: nonEmpty(
      "set the PKCS#11 module's path",
      "set the PKCS#11 module's path, e.g. /usr/lib/softhsm/libsofthsm2.so",
    ),
    tokenLabel: optionalText.optional(),
    slot: z.number({ error: 'must be a slot id (a number)' }).int().min(0).optional(),
    keyLabel: optionalText.optional(),
    keyId: z
      .string({ error: 'must be a string' })
      .regex(/^([0-9a-fA-F]{2})+$/, { error: 'must be the CKA_ID in hex, e.g. "01a2"' })
      .optional(),
    pinFile: optionalText.optional(),
    pinEnv: optionalText.optional(),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    ...signerFields,
  })
  .refine((s) => oneOf(['tokenLabel', 'slot'], s), {
    error: 'names its token by one of `tokenLabel` or `slot`',
  })
  .refine((s) => oneOf(['keyLabel', 'keyId'], s), {
    error: 'names its key by one of `keyLabel` or `keyId`',
  })
  .refine((s) => oneOf(['pinFile', 'pinEnv'], s), {
    error:
      'takes the user PIN from one of `pinFile` (a file) or `pinEnv` (an environment variable)',
  })
  .refine((s) => s.certificatePath === undefined || s.certificate === undefined, {
    error: 'takes `certificatePath` or `certificate`, not both',
  });

const keyVaultKeyId = z
  .string({
    error: 'is required — the key identifier, https://<vault>.vault.azure.net/keys/<name>',
  })
  .refine(
    (v) => {
      try {
        const u = new URL(v);
        const parts = u.pathname.split('/').filter(Boolean);
        return (
          u.protocol === 'https:' &&
          !u.search &&
          !u.username &&
          parts[0] === 'keys' &&
          (parts.length === 2 || parts.length === 3)
        );
      } catch {
        return false;
      }
    },
    {
      error:
        'must be a key identifier, https://<vault>.vault.azure.net/keys/<name> or …/keys/<name>/<version>',
    },
  );

/** `type: 'key-vault'`: an Azure Key Vault key. */
export const keyVaultSource = z
  .strictObject({
    type: z.literal('key-vault'),
    keyId: keyVaultKeyId,
    credential: nonEmpty(
      'name the credential whose tokens the vault accepts',
      'name the credential (of this module) whose tokens the vault accepts, e.g. a managed identity',
    ),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    ca: z.union([pemLike, z.array(pemLike)]).optional(),
    disableChallengeResourceVerification: z.boolean({ error: 'must be true or false' }).optional(),
    ...signerFields,
  })
  .refine((s) => oneOf(['certificatePath', 'certificate'], s), {
    error:
      "needs the key's certificate: `certificatePath` (a PEM file, e.g. az keyvault certificate download --encoding PEM) or `certificate`",
  });

/** A problem found across credentials, in zod's issue shape. */
interface CrossIssue {
  code: 'custom';
  path: (string | number)[];
  message: string;
}

/**
 * A `key-vault` source names the credential whose tokens its vault takes: it must be another
 * configured credential, and no chain of them may lead back (each would wait for the other's
 * token until its deadline).
 */
export function keyVaultProblems(
  credentials: Record<string, { sources: readonly { type: string; credential?: string }[] }>,
): CrossIssue[] {
  const names = Object.keys(credentials);
  const uses = (name: string) =>
    (credentials[name]?.sources ?? []).flatMap((s) =>
      s.type === 'key-vault' && s.credential !== undefined ? [s.credential] : [],
    );
  const issues: CrossIssue[] = [];
  for (const name of names) {
    credentials[name].sources.forEach((s, i) => {
      if (s.type !== 'key-vault' || s.credential === undefined) return;
      const path = ['credentials', name, 'sources', i, 'credential'];
      if (!names.includes(s.credential)) {
        issues.push({
          code: 'custom',
          path,
          message: `'${s.credential}' is not a configured credential — name the credential whose tokens the vault accepts (one of: ${names.join(', ')})`,
        });
        return;
      }
      // Depth-first from the named credential: does any path come back here?
      const seen = new Set<string>();
      const stack = [s.credential];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (next === name) {
          issues.push({
            code: 'custom',
            path,
            message: `'${s.credential}' gets its own vault tokens through '${name}' (directly or by a chain): each would wait for the other — give the vault a credential that signs no assertion with a vault key, a managed identity typically`,
          });
          return;
        }
        if (seen.has(next)) continue;
        seen.add(next);
        stack.push(...uses(next));
      }
    });
  }
  return issues;
}
