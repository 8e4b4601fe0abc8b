import type { CreateAxiosDefaults } from 'axios';
import {
  fetch as undiciFetch,
  Request as UndiciRequest,
  Response as UndiciResponse,
  type Dispatcher,
} from 'undici';

/**
 * axios's fetch adapter on undici's own fetch, so that `dispatcher` (the test's CA, a client
 * certificate) applies: Node's global fetch is another undici copy, which takes no dispatcher of
 * this one. Casts: axios types `env` and `fetchOptions` for the DOM's fetch.
 */
export function undiciFetchAdapter(dispatcher: Dispatcher): CreateAxiosDefaults {
  return {
    adapter: 'fetch',
    env: {
      fetch: undiciFetch as never,
      Request: UndiciRequest as never,
      Response: UndiciResponse as never,
    },
    fetchOptions: { dispatcher } as never,
  };
}
