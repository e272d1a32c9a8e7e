// The CommonJS program of the package test: the same package through require() (tsc nodenext
// compiles these imports to require calls), run against a real etcd on the current Node and on
// the `engines` floor. It prints one JSON line of findings; the test asserts on them.
import { metrics } from '@opentelemetry/api';
import { Concord, ConcordError, isConcordError } from 'concord-etcd';
import { instrument } from 'concord-etcd/otel';
import { filter, firstValueFrom, Observable } from 'rxjs';

async function main(): Promise<void> {
  const concord = new Concord({
    endpoints: process.env.ETCD_ENDPOINTS ?? '127.0.0.1:2379',
    namespace: `consumer-cjs-${process.pid}/`,
  });
  const found: Record<string, unknown> = { module: 'cjs', node: process.version };
  const instrumentation = instrument(concord, metrics.getMeterProvider());
  found.sameRxjs = concord.state$ instanceof Observable;

  const session = await concord.session({ ttl: 5 });
  const permit = await concord.semaphore('encoders', { permits: 2, session }).acquire();
  found.permitToken = typeof permit.fencingToken;
  await permit.release();

  const registration = await concord
    .registry()
    .register({ service: 'user', address: '127.0.0.1:9000' }, { session });
  const instances = await firstValueFrom(
    concord
      .discovery()
      .instances$('user')
      .pipe(filter((list) => list.length > 0)),
  );
  found.discovered = instances.map((i) => i.address);
  await registration.deregister();

  const config = concord.config('app', { defaults: { pool: 10 } });
  await config.set('pool', 20);
  found.config = (await config.load()).pool;
  await config.close();

  // An error thrown by the ESM build, loaded into this CommonJS process with import().
  const esm = await import('concord-etcd');
  try {
    new esm.Concord({ endpoints: 'not an endpoint' });
  } catch (err) {
    found.sameBuildInstanceof = err instanceof esm.ConcordError;
    found.otherBuildInstanceof = err instanceof ConcordError;
    found.otherBuildGuard = isConcordError(err, 'INVALID_ARGUMENT');
  }

  await session.close();
  instrumentation.stop();
  found.otel = 'stopped';
  await concord.close();
  console.log(JSON.stringify(found));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
