import type { CredentialSource } from '../client-credentials.options';
import { AssertionSource } from './assertion.source';
import { CertificateSource } from './certificate.source';
import { SecretSource } from './secret.source';
import type { TokenSource } from './token-source';

/** Builds the run-time source for one entry of `sources`; `index` names it (`certificate#1`). */
export function createSource(options: CredentialSource, index: number): TokenSource {
  const id = `${options.type}#${index}`;
  switch (options.type) {
    case 'secret':
      return new SecretSource(options, id);
    case 'certificate':
      return new CertificateSource(options, id);
    case 'assertion':
      return new AssertionSource(options, id);
  }
}
