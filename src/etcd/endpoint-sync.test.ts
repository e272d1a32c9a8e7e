// Which endpoints a member list asks for (pure); the sync itself runs against real members in
// test/faults/member-replacement.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { IMember, IMemberListResponse } from 'etcd3';
import { addressOf, planEndpoints } from './endpoint-sync.js';

function member(ID: string, clientURLs: string[], extra: Partial<IMember> = {}): IMember {
  return { ID, name: `m${ID}`, peerURLs: [], clientURLs, isLearner: false, ...extra };
}

function list(answeredBy: string, members: IMember[]): IMemberListResponse {
  return { header: { member_id: answeredBy }, members } as unknown as IMemberListResponse;
}

test('addressOf: host:port, lower case, no scheme, no trailing slash', () => {
  assert.equal(addressOf('http://127.0.0.1:2379'), '127.0.0.1:2379');
  assert.equal(addressOf('HTTPS://Etcd-0.example:2379/'), 'etcd-0.example:2379');
  assert.equal(addressOf('10.0.0.5:2379'), '10.0.0.5:2379');
});

test('the client URLs of every started voting member, once each', () => {
  const plan = planEndpoints(
    list('1', [
      member('1', ['http://127.0.0.1:1001']),
      member('2', ['http://127.0.0.1:1002', 'http://127.0.0.1:1001']),
      member('3', [], { name: '' }), // added, not started yet
      member('4', ['http://127.0.0.1:1004'], { isLearner: true }),
      member('5', ['http://127.0.0.1:1005']),
    ]),
    '127.0.0.1:1001',
    false,
  );
  assert.deepEqual(plan, {
    endpoints: ['http://127.0.0.1:1001', 'http://127.0.0.1:1002', 'http://127.0.0.1:1005'],
  });
});

test('only URLs of the client scheme: https with TLS, http (or none) without', () => {
  const members = [member('1', ['http://a:1', 'https://a:2']), member('2', ['https://b:2', 'unix://c'])];
  assert.deepEqual(planEndpoints(list('1', members), 'https://a:2', true), {
    endpoints: ['https://a:2', 'https://b:2'],
  });
  assert.deepEqual(planEndpoints(list('1', members), 'a:1', false), { endpoints: ['http://a:1'] });
  assert.deepEqual(planEndpoints(list('2', [member('2', ['http://b:1'])]), 'b:1', true), { skip: 'empty' });
});

test('an endpoint that is not an address its member advertises (proxy, alias, NAT) changes nothing', () => {
  const members = [member('1', ['http://10.0.0.1:2379']), member('2', ['http://10.0.0.2:2379'])];
  assert.deepEqual(planEndpoints(list('1', members), '127.0.0.1:32379', false), { skip: 'indirect' });
  assert.deepEqual(planEndpoints(list('1', members), 'etcd.service:2379', false), { skip: 'indirect' });
  // Another member's address is not the answering member's own either.
  assert.deepEqual(planEndpoints(list('1', members), '10.0.0.2:2379', false), { skip: 'indirect' });
  assert.deepEqual(planEndpoints(list('9', members), '10.0.0.1:2379', false), { skip: 'indirect' });
});
