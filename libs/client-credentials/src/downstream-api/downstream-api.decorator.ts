import { Inject } from '@nestjs/common';

/**
 * The injection token of the downstream API named `name` (namespaced: it cannot collide with an
 * app's own tokens).
 * @publicApi
 */
export function getDownstreamApiToken(name: string): string {
  return `@app/client-credentials:downstream-api:${name}`;
}

/**
 * Injects the {@link DownstreamApi} named `name` (from `DownstreamApiModule.forRoot` or
 * `forFeature`).
 * @example
 * constructor(@InjectDownstreamApi('orders') private readonly orders: DownstreamApi) {}
 * @publicApi
 */
export const InjectDownstreamApi = (name: string): ParameterDecorator & PropertyDecorator =>
  Inject(getDownstreamApiToken(name));
