// ClientCredentialsHealthIndicator over TokenServiceDouble follows the script, as over the real
// service: in a real Nest testing module (the health and testing entries, each as an app imports it).
import { HealthIndicatorService } from '@nestjs/terminus';
import { Test } from '@nestjs/testing';
import { TokenEndpointError } from '@app/client-credentials';
import { ClientCredentialsHealthIndicator } from '@app/client-credentials/health';
import {
  ClientCredentialsTestingModule,
  TokenServiceDouble,
} from '@app/client-credentials/testing';

const API = 'api://orders/.default';
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

describe('ClientCredentialsHealthIndicator over the double follows the script', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(() => close?.());
  async function health(double: TokenServiceDouble) {
    const moduleRef = await Test.createTestingModule({
      imports: [ClientCredentialsTestingModule.forRoot(double)],
      providers: [HealthIndicatorService, ClientCredentialsHealthIndicator],
    }).compile();
    await moduleRef.init();
    close = () => moduleRef.close();
    return moduleRef.get(ClientCredentialsHealthIndicator);
  }
  const down = () => new TokenEndpointError('endpoint_unavailable', 'The authority is down.', {});

  it('down before a token, up after one, degraded after a failure while the token is valid', async () => {
    const double = new TokenServiceDouble({ credentials: ['orders'] });
    const indicator = await health(double);
    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'down',
      credentials: { orders: { status: 'down', reason: 'no token obtained yet' } },
    });

    await double.getAccessToken(API);
    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'up',
      credentials: { orders: { status: 'up' } },
    });

    double.willAnswer(down());
    await expect(double.getAccessToken(API)).rejects.toMatchObject({
      code: 'endpoint_unavailable',
    });
    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'degraded',
      credentials: {
        orders: { status: 'degraded', reason: 'last token request failed (endpoint_unavailable)' },
      },
    });
    expect(double.getStats()).toMatchObject({
      tokenRequests: 2,
      failures: { endpoint_unavailable: 1 },
      lastError: {
        code: 'endpoint_unavailable',
        message: expect.stringContaining('The authority is down.'),
      },
    });
  });

  it('down when the first request fails', async () => {
    const double = new TokenServiceDouble().willAnswer(down());
    const indicator = await health(double);
    await expect(double.getAccessToken(API)).rejects.toBeDefined();
    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'down',
      credentials: { default: { reason: 'token request failed (endpoint_unavailable)' } },
    });
  });

  it('another tenant failing is listed, and does not fail the credential', async () => {
    // A new double: a failure and a success of one scope within a millisecond count as failing.
    const double = new TokenServiceDouble();
    const indicator = await health(double);
    await double.getAccessToken(API);
    double.willAnswer(down());
    await expect(double.getAccessToken(API, { tenantId: TENANT })).rejects.toBeDefined();
    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'up',
      credentials: {
        default: { status: 'up', failingTenants: { [TENANT]: { code: 'endpoint_unavailable' } } },
      },
    });
  });
  it('judges each scope, as the real service: one scope failing while another works is degraded, listed', async () => {
    const double = new TokenServiceDouble();
    const indicator = await health(double);
    await double.getAccessToken(API);
    double.willAnswer(down());
    await expect(double.getAccessToken('api://billing/.default')).rejects.toBeDefined();

    expect(indicator.isHealthy('c').c).toMatchObject({
      status: 'degraded',
      credentials: {
        default: {
          status: 'degraded',
          failingScopes: { 'api://billing/.default': { code: 'endpoint_unavailable' } },
        },
      },
    });
  });
});
