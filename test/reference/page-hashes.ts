// The TypeScript reference of the page-hash kernel (assembly/page-hashes.ts,
// src/pages xxh3Pages): the BigInt XXH3-64 reference of each 4 KiB page, as
// u32 pairs (low word, high word).
import { xxh3Ref } from "./xxh3.js";

/** XXH3-64 of each 4096-byte page of `bytes`: u32 pairs (low, high) per page. */
export function xxh3PagesRef(bytes: Uint8Array): Uint32Array {
  const count = bytes.length / 4096;
  const out = new Uint32Array(count * 2);
  for (let i = 0; i < count; i++) {
    const h = xxh3Ref(bytes.subarray(i * 4096, (i + 1) * 4096));
    out[i * 2] = Number(h & 0xffff_ffffn);
    out[i * 2 + 1] = Number(h >> 32n);
  }
  return out;
}
