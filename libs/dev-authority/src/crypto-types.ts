import type { webcrypto } from 'node:crypto';

// The project compiles without the DOM lib, so WebCrypto's types come from node:crypto.
/** A WebCrypto key. */
export type CryptoKey = webcrypto.CryptoKey;
/** A WebCrypto key pair. */
export type CryptoKeyPair = webcrypto.CryptoKeyPair;
