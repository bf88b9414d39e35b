import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MIN_POOL_NETWORKS, POOL_FLAG, poolNetworks } from '../../src/core/address-pool.js';

describe('address pool', () => {
  it('counts the networks of a pool: 2^(size - prefix)', () => {
    assert.equal(poolNetworks([{ base: '10.213.0.0/16', size: 24 }]), 256);
    assert.equal(poolNetworks([{ base: '10.213.0.0/16', size: 26 }]), 1024);
    assert.equal(poolNetworks([{ base: '10.213.0.0/16', size: 28 }]), 4096);
  });

  it("adds up several pools, as Docker's built-in ones (about 30 networks)", () => {
    const builtIn = [
      { base: '172.17.0.0/16', size: 16 },
      { base: '172.18.0.0/16', size: 16 },
      { base: '172.19.0.0/16', size: 16 },
      { base: '172.20.0.0/14', size: 16 },
      { base: '172.24.0.0/14', size: 16 },
      { base: '172.28.0.0/14', size: 16 },
      { base: '192.168.0.0/16', size: 20 },
    ];
    assert.equal(poolNetworks(builtIn), 31);
    assert.ok(poolNetworks(builtIn) < MIN_POOL_NETWORKS);
  });

  it('counts nothing for a pool that cannot hold a network, or a malformed base', () => {
    assert.equal(poolNetworks([{ base: '10.213.0.0/24', size: 16 }]), 0);
    assert.equal(poolNetworks([{ base: '10.213.0.0', size: 24 }]), 0);
    assert.equal(poolNetworks([{ base: '10.213.0.0/16', size: 33 }]), 0);
    assert.equal(poolNetworks([]), 0);
  });

  it('recommends a pool of at least 300 networks: size 26 in a /16', () => {
    assert.match(POOL_FLAG, /base=10\.213\.0\.0\/16,size=26/);
    const [, base, size] = /base=([^,]+),size=(\d+)/.exec(POOL_FLAG)!;
    assert.ok(poolNetworks([{ base: base!, size: Number(size) }]) >= MIN_POOL_NETWORKS);
  });
});
