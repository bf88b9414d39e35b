/** A class needs one network per student; this many is what a host of 150 students (and a second class) needs. */
export const MIN_POOL_NETWORKS = 300;

/** The flag `scripts/setup-host.sh` starts dockerd with: 1,024 networks of 64 addresses (two containers need 3). */
export const POOL_FLAG = '--default-address-pool base=10.213.0.0/16,size=26';

/**
 * How many networks Docker can carve out of its default address pools: a pool base=A/p,size=s holds 2^(s - p)
 * networks of prefix /s (10.213.0.0/16 with size 24 holds 256, with size 26 1,024). A pool that cannot hold one
 * (size shorter than its prefix, or a malformed base) counts 0.
 */
export function poolNetworks(pools: { base: string; size: number }[]): number {
  let total = 0;
  for (const { base, size } of pools) {
    const match = /\/(\d{1,3})$/.exec(base);
    if (!match) continue;
    const prefix = Number(match[1]);
    const bits = base.includes(':') ? 128 : 32;
    if (!Number.isInteger(size) || prefix > bits || size > bits || size < prefix) continue;
    total += 2 ** (size - prefix);
  }
  return total;
}
