// Plain TypeScript model of a guest's memory and its A/D bits, the oracle for
// the MMU, the harvest kernels and Vm.read/write.

const SEED_MIX = 0x9e3779b97f4a7c15n;
const MASK64 = (1n << 64n) - 1n;

/** The bytes the MMU writes for an access: word j = ~(gpa + 8j) ^ (seed × φ64), little endian, truncated. */
export function patternBytes(gpa: number, seed: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const mix = (BigInt(seed >>> 0) * SEED_MIX) & MASK64;
  for (let j = 0; j < length; j += 8) {
    let w = (~BigInt(gpa + j) & MASK64) ^ mix;
    for (let b = 0; b < 8 && j + b < length; b++) {
      out[j + b] = Number(w & 0xffn);
      w >>= 8n;
    }
  }
  return out;
}

export interface ModelAccess { op: "read" | "write"; gpa: number; length: number; seed: number }

/** Guest memory as a sparse page map, with the sets of pages accessed and dirtied since the last harvest. */
export class GuestModel {
  readonly pages = new Map<number, Uint8Array>();
  accessed = new Set<number>();
  dirty = new Set<number>();

  constructor(readonly pageCount: number) {}

  apply(a: ModelAccess): void {
    const pfn = Math.floor(a.gpa / 4096);
    this.accessed.add(pfn);
    if (a.op === "read") return;
    this.dirty.add(pfn);
    let page = this.pages.get(pfn);
    if (!page) this.pages.set(pfn, (page = new Uint8Array(4096)));
    page.set(patternBytes(a.gpa, a.seed, a.length), a.gpa % 4096);
  }

  read(gpa: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const page = this.pages.get(Math.floor((gpa + i) / 4096));
      out[i] = page ? page[(gpa + i) % 4096] : 0;
    }
    return out;
  }

  /** Fetch-and-clear, as the harvest kernels do. */
  harvestDirty(): number[] {
    const out = [...this.dirty].sort((a, b) => a - b);
    this.dirty = new Set();
    return out;
  }

  harvestAccessed(): number[] {
    const out = [...this.accessed].sort((a, b) => a - b);
    this.accessed = new Set();
    return out;
  }
}
