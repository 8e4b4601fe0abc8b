// `@app/client-credentials/calling/axios`: axios and @nestjs/axios HttpService. Its own entry point,
// so that apps without axios can import the library (axios types only: nothing of axios is loaded).
export { useClientCredentials } from './axios-interceptor';
export type { AxiosClientCredentialsOptions } from './axios-interceptor';
