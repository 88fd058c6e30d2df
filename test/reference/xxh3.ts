// Plain TypeScript oracle for XXH3-64 with seed 0 and the default secret
// (assembly/xxh3.ts): the specification's scalar algorithm over BigInt,
// one length class per function, written for obviousness, not speed.

import { PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME64_5 } from "./pages.js";

const M64 = (1n << 64n) - 1n;
const PRIME32_1 = 0x9e3779b1n;
const PRIME32_2 = 0x85ebca77n;
const PRIME32_3 = 0xc2b2ae3dn;
const PRIME_MX1 = 0x165667919e3779f9n;
const PRIME_MX2 = 0x9fb21c651e98df25n;

/** kSecret from the specification. */
const SECRET = Uint8Array.from([
  0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
  0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
  0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
  0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
  0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
  0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
  0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
  0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
  0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
  0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
  0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
  0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
]);

function read64(b: Uint8Array, at: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[at + i]);
  return v;
}

function read32(b: Uint8Array, at: number): bigint {
  return BigInt(b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + (BigInt(b[at + 3]) << 24n);
}

const rotl = (v: bigint, r: bigint): bigint => ((v << r) | (v >> (64n - r))) & M64;
const mul = (a: bigint, b: bigint): bigint => (a * b) & M64;

function swap64(v: bigint): bigint {
  let out = 0n;
  for (let i = 0n; i < 8n; i++) out = (out << 8n) | ((v >> (8n * i)) & 0xffn);
  return out;
}

function mul128Fold64(a: bigint, b: bigint): bigint {
  const p = a * b;
  return (p & M64) ^ (p >> 64n);
}

function xxh64Avalanche(h: bigint): bigint {
  h ^= h >> 33n;
  h = mul(h, PRIME64_2);
  h ^= h >> 29n;
  h = mul(h, PRIME64_3);
  return h ^ (h >> 32n);
}

function avalanche(h: bigint): bigint {
  h ^= h >> 37n;
  h = mul(h, PRIME_MX1);
  return h ^ (h >> 32n);
}

function mix16(b: Uint8Array, at: number, secretAt: number): bigint {
  return mul128Fold64(read64(b, at) ^ read64(SECRET, secretAt), read64(b, at + 8) ^ read64(SECRET, secretAt + 8));
}

function len1to3(b: Uint8Array): bigint {
  const n = b.length;
  const combined = (BigInt(b[0]) << 16n) | (BigInt(b[n >> 1]) << 24n) | BigInt(b[n - 1]) | (BigInt(n) << 8n);
  return xxh64Avalanche(combined ^ (read32(SECRET, 0) ^ read32(SECRET, 4)));
}

function len4to8(b: Uint8Array): bigint {
  const n = b.length;
  const input64 = read32(b, n - 4) + (read32(b, 0) << 32n);
  let h = input64 ^ (read64(SECRET, 8) ^ read64(SECRET, 16));
  h ^= rotl(h, 49n) ^ rotl(h, 24n);
  h = mul(h, PRIME_MX2);
  h ^= (h >> 35n) + BigInt(n);
  h = mul(h, PRIME_MX2);
  return h ^ (h >> 28n);
}

function len9to16(b: Uint8Array): bigint {
  const n = b.length;
  const lo = read64(b, 0) ^ (read64(SECRET, 24) ^ read64(SECRET, 32));
  const hi = read64(b, n - 8) ^ (read64(SECRET, 40) ^ read64(SECRET, 48));
  return avalanche((BigInt(n) + swap64(lo) + hi + mul128Fold64(lo, hi)) & M64);
}

function len17to128(b: Uint8Array): bigint {
  const n = b.length;
  let acc = mul(BigInt(n), PRIME64_1);
  const pairs = n > 96 ? 4 : n > 64 ? 3 : n > 32 ? 2 : 1;
  for (let i = 0; i < pairs; i++) {
    acc += mix16(b, 16 * i, 32 * i) + mix16(b, n - 16 * (i + 1), 32 * i + 16);
  }
  return avalanche(acc & M64);
}

function len129to240(b: Uint8Array): bigint {
  const n = b.length;
  let acc = mul(BigInt(n), PRIME64_1);
  for (let i = 0; i < 8; i++) acc += mix16(b, 16 * i, 16 * i);
  acc = avalanche(acc & M64);
  for (let i = 8; i < Math.floor(n / 16); i++) acc += mix16(b, 16 * i, 16 * (i - 8) + 3);
  acc += mix16(b, n - 16, 136 - 17);
  return avalanche(acc & M64);
}

function accumulate512(acc: bigint[], b: Uint8Array, at: number, secretAt: number): void {
  for (let i = 0; i < 8; i++) {
    const data = read64(b, at + 8 * i);
    const key = data ^ read64(SECRET, secretAt + 8 * i);
    acc[i ^ 1] = (acc[i ^ 1] + data) & M64;
    acc[i] = (acc[i] + (key & 0xffffffffn) * (key >> 32n)) & M64;
  }
}

function lenLong(b: Uint8Array): bigint {
  const n = b.length;
  const acc = [PRIME32_3, PRIME64_1, PRIME64_2, PRIME64_3, PRIME64_4, PRIME32_2, PRIME64_5, PRIME32_1];
  const stripesPerBlock = (SECRET.length - 64) / 8;
  const blockBytes = stripesPerBlock * 64;
  const blocks = Math.floor((n - 1) / blockBytes);
  for (let blk = 0; blk < blocks; blk++) {
    for (let s = 0; s < stripesPerBlock; s++) accumulate512(acc, b, blk * blockBytes + 64 * s, 8 * s);
    for (let i = 0; i < 8; i++) {
      let a = acc[i] ^ (acc[i] >> 47n);
      a ^= read64(SECRET, SECRET.length - 64 + 8 * i);
      acc[i] = mul(a, PRIME32_1);
    }
  }
  const stripes = Math.floor((n - 1 - blocks * blockBytes) / 64);
  for (let s = 0; s < stripes; s++) accumulate512(acc, b, blocks * blockBytes + 64 * s, 8 * s);
  accumulate512(acc, b, n - 64, SECRET.length - 64 - 7);
  let r = mul(BigInt(n), PRIME64_1);
  for (let i = 0; i < 4; i++) r += mul128Fold64(acc[2 * i] ^ read64(SECRET, 11 + 16 * i), acc[2 * i + 1] ^ read64(SECRET, 11 + 16 * i + 8));
  return avalanche(r & M64);
}

/** XXH3-64 with seed 0 of `bytes`. */
export function xxh3Ref(bytes: Uint8Array): bigint {
  const n = bytes.length;
  if (n > 240) return lenLong(bytes);
  if (n > 128) return len129to240(bytes);
  if (n > 16) return len17to128(bytes);
  if (n > 8) return len9to16(bytes);
  if (n >= 4) return len4to8(bytes);
  if (n > 0) return len1to3(bytes);
  return xxh64Avalanche(read64(SECRET, 56) ^ read64(SECRET, 64));
}
