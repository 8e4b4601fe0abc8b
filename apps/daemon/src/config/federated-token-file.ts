import { readFile } from 'node:fs/promises';

/**
 * A client assertion read from a federated token file (Kubernetes workload identity,
 * `AZURE_FEDERATED_TOKEN_FILE`) at every call, so a token the kubelet rotated is used at once.
 */
export function federatedTokenAssertion(file: string): () => Promise<string> {
  return async () => {
    let token: string;
    try {
      token = (await readFile(file, 'utf8')).trim();
    } catch (e) {
      throw new Error(
        `cannot read the federated token file '${file}' (${(e as NodeJS.ErrnoException).code ?? 'error'}): check tokenFilePath / AZURE_FEDERATED_TOKEN_FILE`,
        { cause: e },
      );
    }
    if (token === '') throw new Error(`the federated token file '${file}' is empty`);
    return token;
  };
}
