// XXH3-64 (seed 0) by hash-wasm: an implementation independent of both the
// kernel (assembly/xxh3.ts) and the BigInt oracle (xxh3.ts beside this
// file), fast enough for whole chunks. Created once per test file.
import { createXXHash3 } from "hash-wasm";

/** A function hashing bytes with hash-wasm's XXH3-64, seed 0. */
export async function independentXxh3(): Promise<(bytes: Uint8Array) => bigint> {
  const h3 = await createXXHash3(0, 0);
  return (bytes) => {
    h3.init();
    h3.update(bytes);
    return BigInt(`0x${h3.digest("hex")}`);
  };
}
