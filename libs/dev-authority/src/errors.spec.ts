import { AADSTS, entraErrorBody, EntraError, entraTimestamp } from './errors';

describe('Entra error bodies', () => {
  it('formats the body like Entra, echoing the correlation id', () => {
    const at = new Date('2026-01-09T02:02:12.345Z');
    const body = entraErrorBody(
      new EntraError(7000215, 'Invalid client secret provided.'),
      'https://x',
      at,
      'corr',
    );
    expect(body).toMatchObject({
      error: 'invalid_client',
      error_codes: [7000215],
      timestamp: '2026-01-09 02:02:12Z',
      correlation_id: 'corr',
      error_uri: 'https://x/error?code=7000215',
    });
    expect(body.error_description).toMatch(
      /^AADSTS7000215: Invalid client secret provided\.\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: corr\r\nTimestamp: 2026-01-09 02:02:12Z$/,
    );
  });

  it('uses the status of the code unless overridden', () => {
    expect(new EntraError(90002, 'x').status).toBe(400);
    expect(new EntraError(50000, 'x', { status: 502 }).status).toBe(502);
    expect(entraTimestamp(new Date(0))).toBe('1970-01-01 00:00:00Z');
  });

  it('answers invalid_client with 401 and everything else client-side with 400', () => {
    for (const def of Object.values(AADSTS)) {
      if (def.error === 'invalid_client') expect(def.status).toBe(401);
      else if (def.status < 500 && def.status !== 429) expect(def.status).toBe(400);
    }
  });
});
