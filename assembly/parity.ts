// XOR parity: dst = XOR of k pages. The rebuild of one lost page is the same
// operation over the parity page and the k - 1 survivors.

/** dst = XOR of the `k` pages whose addresses are the u32 list at `listPtr`; `len` a multiple of 16. */
export function xorParity(dstPtr: usize, listPtr: usize, k: u32, len: usize): void {
  memory.fill(dstPtr, 0, len);
  for (let i: u32 = 0; i < k; i++) {
    const src = <usize>load<u32>(listPtr + (<usize>i << 2));
    for (let o: usize = 0; o < len; o += 8) store<u64>(dstPtr + o, load<u64>(dstPtr + o) ^ load<u64>(src + o));
  }
}
