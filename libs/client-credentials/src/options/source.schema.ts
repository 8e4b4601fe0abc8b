/* The schema of a credential's sources, one per `type`; credential.schema.ts holds the credential's. */
import { z } from 'zod';
import { nonEmpty, optionalText, pemLike } from './schema-fields';
import { keyVaultSource, pkcs11Source, signerSource } from './signer-source.schema';

const secretSource = z.strictObject({
  type: z.literal('secret'),
  secret: nonEmpty('set the client secret value', 'set the client secret value (not its ID)'),
});

const certificateSource = z
  .strictObject({
    type: z.literal('certificate'),
    certificatePath: optionalText.optional(),
    certificate: pemLike.optional(),
    privateKey: pemLike.optional(),
    passphrase: z.string().optional(),
    sendX5c: z.boolean({ error: 'must be true or false' }).optional(),
  })
  .refine((s) => s.certificatePath !== undefined || s.certificate !== undefined, {
    error:
      'needs `certificatePath` (a PEM file with certificate and key) or `certificate` + `privateKey`',
  });

const assertionSource = z.strictObject({
  type: z.literal('assertion'),
  getAssertion: z.custom<(...args: unknown[]) => unknown>((v) => typeof v === 'function', {
    error: 'must be a function returning the client assertion (a JWT)',
  }),
});

const workloadIdentitySource = z.strictObject({
  type: z.literal('workload-identity'),
  tokenFilePath: optionalText.optional(),
});

const managedIdentityAssertionSource = z.strictObject({
  type: z.literal('managed-identity-assertion'),
  managedIdentityClientId: optionalText.optional(),
  audience: optionalText.optional(),
});

const managedIdentitySource = z
  .strictObject({
    type: z.literal('managed-identity'),
    clientId: optionalText.optional(),
    resourceId: optionalText.optional(),
    objectId: optionalText.optional(),
  })
  .refine((s) => [s.clientId, s.resourceId, s.objectId].filter(Boolean).length <= 1, {
    error:
      'names a user-assigned identity by one of `clientId`, `resourceId` or `objectId`, not several',
  });

/** The source types, in the words of error messages. */
export const SOURCE_TYPES =
  "'secret', 'certificate', 'assertion', 'signer', 'pkcs11', 'key-vault', 'workload-identity', 'managed-identity-assertion' or 'managed-identity'";

/** The zod schema of one source of a credential (`credentials.<name>.sources[i]`), by `type`. */
export const sourceSchema = z.discriminatedUnion(
  'type',
  [
    secretSource,
    certificateSource,
    assertionSource,
    signerSource,
    pkcs11Source,
    keyVaultSource,
    workloadIdentitySource,
    managedIdentityAssertionSource,
    managedIdentitySource,
  ],
  {
    error: (i) =>
      i.code === 'invalid_union' ? `has an unknown \`type\` — use ${SOURCE_TYPES}` : undefined,
  },
);
