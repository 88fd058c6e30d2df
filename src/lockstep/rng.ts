// A seeded PRNG whose state can be copied: mulberry32 (as src/sim/prng.ts),
// held in an object so a resync can hand the primary's generator state to
// the secondary (the packet source is part of the guest's state).

export class SeededRng {
  state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform integer in [0, 2^32). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  unit(): number { return this.next() / 2 ** 32; }
}
