import type { Reply, RequestContext } from './http';
import type { TokenIssuer } from './token-issuer';

/**
 * `GET /{tenant}/v2.0/.well-known/openid-configuration`: the fields of Entra's v2.0 document that
 * msal-node and token validators read; `issuer` matches the issued tokens' `iss` exactly.
 */
export function openIdConfiguration(origin: string, tenantId: string, issuer: TokenIssuer): Reply {
  const base = `${origin}/${tenantId}`;
  return {
    status: 200,
    json: {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: [
        'client_secret_post',
        'private_key_jwt',
        'client_secret_basic',
      ],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: issuer.issuer(tenantId),
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: [
        'sub',
        'iss',
        'aud',
        'exp',
        'iat',
        'nbf',
        'tid',
        'oid',
        'roles',
        'azp',
        'azpacr',
      ],
      kerberos_endpoint: `${base}/kerberos`,
      tenant_region_scope: 'EU',
      cloud_instance_name: 'dev-authority.local',
      cloud_graph_host_name: 'graph.dev-authority.local',
      msgraph_host: 'graph.dev-authority.local',
      rbac_url: 'https://pas.dev-authority.local',
    },
  };
}

/** `GET /{tenant}/discovery/v2.0/keys`: the signing key as a JWKS. */
export function signingKeys(_ctx: RequestContext, issuer: TokenIssuer): Reply {
  return { status: 200, json: { keys: [issuer.jwk] } };
}
