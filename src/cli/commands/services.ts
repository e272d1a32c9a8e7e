import { map } from 'rxjs';
import type { ServiceInstance } from '../../service/types.js';
import type { CommandSpec, Parsed } from '../args.js';
import { CONNECTION_OPTIONS, connect } from '../connect.js';
import { runView } from '../live.js';
import { duration, VIEW_OPTIONS } from '../output.js';

export const spec: CommandSpec = {
  name: 'services',
  usage: 'services [SERVICE] [--prefix P] [--json] [--once]',
  summary: 'follow registered service instances: address, meta, status, age',
  description: `Follows the instances registered under the registry prefix (the library's
concord.registry() / concord.discovery(): keys <prefix><service>/<id>), of SERVICE or of
every service: address, meta, status (serving or draining) and age (since the instance
registered, when its record says so). Plain-address values written by other clients
(etcdctl put services/api/i1 10.0.0.5:9000) are instances too.

JSON lines, every instance on every change:
  {"type":"services","service":"api","instances":[{"service":"api",
   "id":"i1","address":"10.0.0.5:9000","meta":{"zone":"a"},"status":"serving",
   "registeredAt":"2025-01-01T10:00:00.000Z","ageMs":5012,"key":"services/api/i1",
   "revision":"80"}]}
"service" is null when following every service; "ageMs" is null without registeredAt.`,
  options: {
    prefix: { type: 'string', value: 'P', help: "the registry prefix (default 'services/')" },
    ...VIEW_OPTIONS,
    ...CONNECTION_OPTIONS,
  },
  positionals: { min: 0, max: 1, names: '[SERVICE]' },
};

export async function run({ flags, positionals }: Parsed): Promise<number> {
  const service = positionals[0];
  const prefix = flags.string('prefix');
  const concord = await connect(flags);
  const discovery = concord.discovery(prefix === undefined ? {} : { prefix });
  const states = discovery.instances$(service).pipe(map((instances) => ({ instances })));
  return runView(concord, flags, {
    title: service === undefined ? `services under '${discovery.prefix}'` : `service '${service}'`,
    mode: 'redraw',
    states,
    json: ({ instances }) => {
      const now = Date.now();
      return [
        { type: 'services', service: service ?? null, instances: instances.map((i) => instanceJson(i, now)) },
      ];
    },
    screen: ({ instances }, now) => {
      if (instances.length === 0) return ['(no instances)'];
      return instances.map((instance) => {
        const age = ageOf(instance, now);
        const meta = instance.meta ? `  ${JSON.stringify(instance.meta)}` : '';
        return `  ${instance.service}/${instance.id}   ${instance.address}   ${statusOf(instance)}   ${age === null ? 'age ?' : duration(age)}${meta}`;
      });
    },
  });
}

/** `serving` unless the instance says otherwise (a draining instance, where the registry supports it). */
function statusOf(instance: ServiceInstance): string {
  const status = (instance as { status?: unknown }).status;
  return typeof status === 'string' ? status : 'serving';
}

function ageOf(instance: ServiceInstance, now: number): number | null {
  const at = instance.registeredAt === undefined ? Number.NaN : Date.parse(instance.registeredAt);
  return Number.isNaN(at) ? null : Math.max(0, now - at);
}

function instanceJson(instance: ServiceInstance, now: number) {
  const { service, id, address, meta, registeredAt, key, revision } = instance;
  return {
    service,
    id,
    address,
    meta: meta ?? null,
    status: statusOf(instance),
    registeredAt: registeredAt ?? null,
    ageMs: ageOf(instance, now),
    key,
    revision,
  };
}
