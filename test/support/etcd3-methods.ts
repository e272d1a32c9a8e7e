import { Etcd3 } from 'etcd3';

/** A method of etcd3's generated gRPC client: its (de)serializers, as etcd3 encodes and decodes messages. */
export interface Etcd3Method<Res> {
  responseSerialize(res: unknown): Buffer;
  responseDeserialize(bytes: Buffer): Res;
  /** A request as etcd3 reads it back (int64s as decimal strings, enums by name). */
  requestDeserialize(bytes: Buffer): unknown;
}

/**
 * etcd3's generated `service`.`method` (serializers only: the client never connects), to check
 * concord's own wire encoders and decoders against etcd3's encoding of the same messages.
 */
export async function etcd3Method<Res>(
  service: 'KV' | 'Watch' | 'Lease',
  method: string,
): Promise<Etcd3Method<Res>> {
  const etcd = new Etcd3({ hosts: '127.0.0.1:1' });
  type Client = { constructor: { service: Record<string, Etcd3Method<Res>> } };
  const pool = (
    etcd as unknown as {
      pool: { withConnection<R>(s: string, fn: (a: { client: unknown }) => R): Promise<R> };
    }
  ).pool;
  try {
    return await pool.withConnection(
      service,
      ({ client }) => (client as Client).constructor.service[method]!,
    );
  } finally {
    etcd.close();
  }
}

/** A KeyValue as etcd3 types it (int64s as decimal strings): revisions are [create, mod, version]. */
export const wireKv = (key: string, value: string, revisions: [string, string, string], lease: string) => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  create_revision: revisions[0],
  mod_revision: revisions[1],
  version: revisions[2],
  lease,
});
