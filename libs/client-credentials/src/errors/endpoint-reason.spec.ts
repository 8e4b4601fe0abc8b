import { ServerError } from '@azure/msal-node';
import { endpointReason } from './to-client-credentials-error';

/** A ServerError as msal-common's ResponseHandler builds it from an error answer. */
const refusal = (description: string | undefined, correlationId = 'c0ffee') =>
  new ServerError(
    '',
    correlationId,
    `Error(s): Not Available - Timestamp: Not Available - Description: ${description ?? 'Not Available'} - Correlation ID: ${correlationId} - Trace ID: Not Available`,
    undefined,
    undefined,
    400,
  );

describe('endpointReason: what a managed identity endpoint said', () => {
  it("is App Service's message (or IMDS's description), first line only", () => {
    expect(endpointReason(refusal('Unable to load the proper Managed Identity.'))).toBe(
      'Unable to load the proper Managed Identity.',
    );
    expect(
      endpointReason(refusal('AADSTS500011: The resource principal was not found.\r\nTrace ID: x')),
    ).toBe('AADSTS500011: The resource principal was not found.');
  });

  it('is bounded and never carries a token', () => {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
    expect(endpointReason(refusal(`bad token ${jwt} sent`))).toBe('bad token [token] sent');
    expect(endpointReason(refusal('x'.repeat(500)))).toHaveLength(200);
  });

  it('is undefined when the endpoint gave none', () => {
    expect(endpointReason(refusal(undefined))).toBeUndefined();
  });
});
