// Run in a child process (NODE_EXTRA_CA_CERTS must be set at start for the Azure SDK to trust the
// local CAs): an unmodified @azure/storage-blob client through our TokenCredential.
import 'reflect-metadata';
import { Test } from '@nestjs/testing';
import { BlobServiceClient } from '@azure/storage-blob';
import { ClientCredentialsModule, TokenService } from '@app/client-credentials';
import { createTokenCredential } from '@app/client-credentials/calling';

async function main(): Promise<void> {
  const env = process.env;
  const app = await (
    await Test.createTestingModule({
      imports: [
        ClientCredentialsModule.forRoot({
          credentials: {
            storage: {
              tenantId: env.H7_TENANT!,
              clientId: env.H7_CLIENT!,
              authorityHost: env.H7_AUTHORITY!,
              sources: [{ type: 'secret', secret: env.H7_SECRET! }],
            },
          },
        }),
      ],
    }).compile()
  ).init();
  try {
    const credential = createTokenCredential(app.get(TokenService));
    const service = new BlobServiceClient(env.H7_BLOB_URL!, credential);
    const container = service.getContainerClient('calling-apis');
    await container.createIfNotExists();
    const blob = container.getBlockBlobClient('hello.txt');
    await blob.upload('hello from a TokenCredential', 28);
    const read = (await blob.downloadToBuffer()).toString();
    await blob.upload('second write', 12);
    process.stdout.write(
      JSON.stringify({ read, second: (await blob.downloadToBuffer()).toString() }),
    );
  } finally {
    await app.close();
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
