import { createPublicKey, webcrypto, X509Certificate } from 'node:crypto';
import type { AuthorityPki } from './pki';
import { newSecretValue, TOKEN_EXCHANGE_AUDIENCE, type AppRecord } from './directory';
import { issueCertificate, issueCertificateForKey, thumbprints } from './pki';
import { exchangeSubject } from './agent-id';
import type { Directory } from './directory';
import type {
  AgentBlueprint,
  AgentIdentity,
  App,
  ClientCertificate,
  KeyCertificate,
  SniCertificate,
} from './types';

const DAY = 24 * 3600 * 1000;

/** The {@link App} handle over a stored app registration. */
export function createApp(record: AppRecord, pki: AuthorityPki): App {
  return {
    tenantId: record.tenantId,
    clientId: record.clientId,
    objectId: record.objectId,

    addSecret(options = {}) {
      const value = newSecretValue();
      record.secrets.push({
        value,
        expiresAt: options.expiresAt ?? new Date(Date.now() + 180 * DAY),
      });
      return value;
    },

    async addCertificate(options = {}): Promise<ClientCertificate> {
      const notAfter = options.expiresAt ?? new Date(Date.now() + 365 * DAY);
      const notBefore =
        options.validFrom ?? new Date(Math.min(Date.now(), notAfter.getTime()) - DAY);
      const issued = await issueCertificate({
        subject: options.subject ?? `CN=${record.displayName}`,
        issuer: pki.ca,
        kind: 'client',
        notBefore,
        notAfter,
      });
      const der = Buffer.from(new X509Certificate(issued.certificatePem).raw);
      const { sha1, sha256 } = thumbprints(der);
      record.certificates.push({
        certificatePem: issued.certificatePem,
        thumbprintSha1: sha1,
        thumbprintSha256: sha256,
        notBefore,
        notAfter,
      });
      return {
        certificatePem: issued.certificatePem,
        privateKeyPem: issued.privateKeyPem,
        thumbprintSha1: sha1,
        thumbprintSha256: sha256,
      };
    },

    async addCertificateForKey(publicKeyPem, options = {}): Promise<KeyCertificate> {
      // A CA issuing a certificate for a key it never sees, as for a CSR of an HSM's key.
      const publicKey = await webcrypto.subtle.importKey(
        'spki',
        createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' }),
        publicKeyAlgorithm(publicKeyPem),
        true,
        ['verify'],
      );
      const notAfter = options.expiresAt ?? new Date(Date.now() + 365 * DAY);
      const notBefore = new Date(Math.min(Date.now(), notAfter.getTime()) - DAY);
      const certificatePem = await issueCertificateForKey(
        {
          subject: options.subject ?? `CN=${record.displayName}`,
          issuer: pki.ca,
          kind: 'client',
          notBefore,
          notAfter,
        },
        publicKey,
      );
      const der = Buffer.from(new X509Certificate(certificatePem).raw);
      const { sha1, sha256 } = thumbprints(der);
      record.certificates.push({
        certificatePem,
        thumbprintSha1: sha1,
        thumbprintSha256: sha256,
        notBefore,
        notAfter,
      });
      return { certificatePem, thumbprintSha1: sha1, thumbprintSha256: sha256 };
    },

    async addSniCertificate(options = {}): Promise<SniCertificate> {
      const subject = options.subject ?? `CN=${record.clientId}.sni.dev-authority.local`;
      const issued = await issueCertificate({
        subject,
        issuer: pki.sniIntermediate,
        kind: 'client',
      });
      const der = Buffer.from(new X509Certificate(issued.certificatePem).raw);
      record.sniSubjects.push(subject.includes('=') ? subject : `CN=${subject}`);
      return {
        certificatePem: issued.certificatePem,
        chainPem: issued.certificatePem + pki.sniIntermediate.certificatePem,
        privateKeyPem: issued.privateKeyPem,
        subject: subject.includes('=') ? subject : `CN=${subject}`,
        thumbprintSha256: thumbprints(der).sha256,
      };
    },

    addFederatedCredential(options) {
      record.federated.push({
        issuer: options.issuer,
        subject: options.subject,
        audience: options.audience ?? TOKEN_EXCHANGE_AUDIENCE,
      });
    },

    removeCredentials() {
      record.secrets.length = 0;
      record.certificates.length = 0;
      record.sniSubjects.length = 0;
      record.federated.length = 0;
    },
  };
}

/** What an agent blueprint's handle needs from the authority. */
export interface AgentHandleDeps {
  directory: Directory;
  pki: AuthorityPki;
  /** The token issuer of a tenant (a T1's `iss`). */
  issuer(tenantId: string): string;
}

/** The {@link AgentBlueprint} handle over a stored blueprint. */
export function createAgentBlueprint(record: AppRecord, deps: AgentHandleDeps): AgentBlueprint {
  record.blueprint = true;
  return {
    ...createApp(record, deps.pki),
    createAgentIdentity(options = {}): AgentIdentity {
      const tenantId = options.tenantId?.toLowerCase() ?? record.tenantId;
      const blueprint = deps.directory.findApp(tenantId, record.clientId);
      if (blueprint === undefined || !blueprint.blueprint) {
        throw new Error(
          `dev-authority: blueprint ${record.clientId} has no service principal in tenant ${tenantId}`,
        );
      }
      const agent = deps.directory.addAgentIdentity(blueprint, tenantId, {
        displayName: options.displayName,
        roles: options.roles,
        issuer: deps.issuer(tenantId),
        subject: (id) => exchangeSubject(tenantId, record.clientId, id),
      });
      return agentIdentityHandle(agent, deps.directory);
    },
  };
}

/** The {@link AgentIdentity} handle over a stored agent identity. */
export function agentIdentityHandle(agent: AppRecord, directory: Directory): AgentIdentity {
  return {
    tenantId: agent.tenantId,
    clientId: agent.clientId,
    objectId: agent.objectId,
    blueprintId: agent.parentBlueprint ?? '',
    createAgentUser: (userOptions = {}) => {
      const user = directory.addAgentUser(agent, userOptions);
      return {
        tenantId: user.tenantId,
        objectId: user.objectId,
        userPrincipalName: user.userPrincipalName,
        agentId: agent.clientId,
      };
    },
  };
}

/** The WebCrypto import algorithm of an SPKI public key: RSA, or EC P-256. */
function publicKeyAlgorithm(pem: string): Parameters<typeof webcrypto.subtle.importKey>[2] {
  const key = createPublicKey(pem);
  if (key.asymmetricKeyType === 'ec') return { name: 'ECDSA', namedCurve: 'P-256' };
  return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
}
