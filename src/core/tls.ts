import { createHash, createHmac, createPrivateKey } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';

/**
 * A class's certificate authority and each of its servers' certificates, derived from the class token: the same on
 * every run of `up` (so a server is not replaced for a new certificate), with nothing to keep but the token (a label).
 * ECDSA P-256 (every client and Courier's TLS take it), signatures deterministic (RFC 6979, @noble/curves), so that
 * a certificate's bytes depend on the token alone.
 */

export interface Certificate {
  /** The certificate, PEM. */
  cert: string;
  /** Its private key, PKCS#8 PEM. */
  key: string;
}

// ---------------------------------------------------------------- DER, the little of it a certificate needs

const der = (tag: number, ...content: Uint8Array[]): Buffer => {
  const body = Buffer.concat(content);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
};
const seq = (...c: Uint8Array[]) => der(0x30, ...c);
const set = (...c: Uint8Array[]) => der(0x31, ...c);
const explicit = (n: number, ...c: Uint8Array[]) => der(0xa0 + n, ...c);
const octets = (b: Uint8Array) => der(0x04, b);
const bits = (b: Uint8Array) => der(0x03, Buffer.from([0]), b);
const utf8 = (s: string) => der(0x0c, Buffer.from(s, 'utf8'));
const bool = (v: boolean) => der(0x01, Buffer.from([v ? 0xff : 0]));
/** A non-negative integer, big-endian bytes. */
const int = (b: Uint8Array) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.subarray(i);
  return der(0x02, (v[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v);
};
const oid = (dotted: string) => {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const out = [a * 40 + b];
  for (const n of rest) {
    const groups = [n & 0x7f];
    for (let v = n >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return der(0x06, Buffer.from(out));
};
/** UTCTime before 2050, GeneralizedTime from then on (RFC 5280). */
const time = (d: Date) => {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${iso.slice(2)}Z`)) : der(0x18, Buffer.from(`${iso}Z`));
};

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  organization: '2.5.4.10',
  unit: '2.5.4.11',
  commonName: '2.5.4.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
};

const name = (parts: [string, string][]) => seq(...parts.map(([o, v]) => set(seq(oid(o), utf8(v)))));
const extension = (id: string, critical: boolean, value: Uint8Array) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
const pem = (label: string, body: Uint8Array) =>
  `-----BEGIN ${label}-----\n${Buffer.from(body)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n?$/, '\n')}-----END ${label}-----\n`;

// ---------------------------------------------------------------- keys

const ORDER = p256.Point.Fn.ORDER;

/** A P-256 private key from a secret and a purpose: HMAC-SHA256, reduced into [1, n - 1]. */
function derivedKey(secret: string, purpose: string): { secret: Uint8Array; public: Uint8Array; pem: string } {
  const h = BigInt(`0x${createHmac('sha256', secret).update(`tls:${purpose}`).digest('hex')}`);
  const d = (h % (ORDER - 1n)) + 1n;
  const sk = Buffer.from(d.toString(16).padStart(64, '0'), 'hex');
  const pub = p256.getPublicKey(sk, false);
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  const key = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: b64u(sk), x: b64u(pub.subarray(1, 33)), y: b64u(pub.subarray(33)) },
    format: 'jwk',
  });
  return { secret: sk, public: pub, pem: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const spki = (pub: Uint8Array) => seq(seq(oid(OID.ecPublicKey), oid(OID.prime256v1)), bits(pub));
const keyId = (pub: Uint8Array) => createHash('sha1').update(pub).digest();

function certificate(options: {
  serial: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  publicKey: Uint8Array;
  issuerKey: { secret: Uint8Array; public: Uint8Array };
  extensions: Uint8Array[];
}): string {
  const algorithm = seq(oid(OID.ecdsaSha256));
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(options.serial),
    algorithm,
    options.issuer,
    seq(time(new Date('2024-01-01T00:00:00Z')), time(new Date('2099-12-31T23:59:59Z'))),
    options.subject,
    spki(options.publicKey),
    explicit(3, seq(...options.extensions)),
  );
  const signature = p256.sign(tbs, options.issuerKey.secret, { format: 'der' });
  return pem('CERTIFICATE', seq(tbs, algorithm, bits(signature)));
}

const serial = (secret: string, purpose: string) =>
  createHmac('sha256', secret).update(`serial:${purpose}`).digest().subarray(0, 16);

const caName = (className: string) =>
  name([
    [OID.organization, 'labctl'],
    [OID.unit, `classe ${className}`],
    [OID.commonName, `CA labctl de la classe ${className}`],
  ]);

/** The class's CA: self-signed, for signing its servers' certificates only. */
export function classCa(token: string, className: string): Certificate {
  const key = derivedKey(token, `ca:${className}`);
  const cert = certificate({
    serial: serial(token, `ca:${className}`),
    issuer: caName(className),
    subject: caName(className),
    publicKey: key.public,
    issuerKey: key,
    extensions: [
      extension(OID.basicConstraints, true, seq(bool(true), der(0x02, Buffer.from([0])))),
      extension(OID.keyUsage, true, der(0x03, Buffer.from([1, 0x06]))),
      extension(OID.subjectKeyId, false, octets(keyId(key.public))),
    ],
  });
  return { cert, key: key.pem };
}

/** A server's certificate for its host name (mail.s01.td1.test), signed by the class's CA. */
export function serverCertificate(token: string, className: string, hostname: string): Certificate {
  const ca = derivedKey(token, `ca:${className}`);
  const key = derivedKey(token, `server:${className}:${hostname}`);
  const cert = certificate({
    serial: serial(token, `server:${hostname}`),
    issuer: caName(className),
    subject: name([
      [OID.organization, 'labctl'],
      [OID.unit, `classe ${className}`],
      [OID.commonName, hostname],
    ]),
    publicKey: key.public,
    issuerKey: ca,
    extensions: [
      extension(OID.basicConstraints, true, seq()),
      extension(OID.keyUsage, true, der(0x03, Buffer.from([7, 0x80]))),
      extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))),
      extension(OID.subjectAltName, false, seq(der(0x82, Buffer.from(hostname)))),
      extension(OID.subjectKeyId, false, octets(keyId(key.public))),
      extension(OID.authorityKeyId, false, seq(der(0x80, keyId(ca.public)))),
    ],
  });
  return { cert, key: key.pem };
}
