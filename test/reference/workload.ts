// The oracle for assembly/workload.ts: the same generators written plainly in
// TypeScript (BigInt SplitMix64, BigInt products). It follows the draw order
// documented in the header of assembly/workload.ts; any difference shows up
// as a byte difference in test/workload.test.ts.
//
// The Zipf sampler needs log, exp, log1p and expm1. Engine Math functions may
// differ from the kernel's by an ulp, so the musl/fdlibm algorithms the
// kernel uses are written out here too, operation for operation (only +, -,
// ×, / and bit moves, each exactly specified by IEEE 754), and
// test/workload.test.ts checks them against Math.* (within 1 ulp).

const MASK64 = (1n << 64n) - 1n;
const TWO32 = 4294967296;

// ── Bits of a double ───────────────────────────────────────────────────────
const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer); // little endian: [lo, hi]

function hiWord(x: number): number { f64[0] = x; return u32[1]; }
function loWord(x: number): number { f64[0] = x; return u32[0]; }
function fromWords(hi: number, lo: number): number { u32[1] = hi >>> 0; u32[0] = lo >>> 0; return f64[0]; }
function fromBits(bits: bigint): number { return fromWords(Number(bits >> 32n), Number(bits & 0xffffffffn)); }

const LN2_HI = fromBits(0x3fe62e42fee00000n);
const LN2_LO = fromBits(0x3dea39ef35793c76n);
const INV_LN2 = fromBits(0x3ff71547652b82fen);
const LG = [0x3fe5555555555593n, 0x3fd999999997fa04n, 0x3fd2492494229359n, 0x3fcc71c51d8e78afn,
  0x3fc7466496cb03den, 0x3fc39a09d078c69fn, 0x3fc2f112df3e5244n].map(fromBits);
const P = [0x3fc555555555553en, 0xbf66c16c16bebd93n, 0x3f11566aaf25de2cn, 0xbebbbd41c5d26bf1n, 0x3e66376972bea4d0n].map(fromBits);
const Q = [0xbfa11111111110f4n, 0x3f5a01a019fe5585n, 0xbf14ce199eaadbb7n, 0x3ed0cfca86e65239n, 0xbe8afdb76e09c32dn].map(fromBits);
const OX1P1023 = fromBits(0x7fe0000000000000n);
const OX1P_1022 = fromBits(0x0010000000000000n);
const OX1P53 = fromBits(0x4340000000000000n);
const OX1P54 = fromBits(0x4350000000000000n);
const EXP_OVERFLOW = fromBits(0x40862e42fefa39efn);
const EXP_UNDERFLOW = fromBits(0xc0874910d52d3051n);

function scalbn(x: number, n: number): number {
  let y = x;
  if (n > 1023) {
    y *= OX1P1023;
    n -= 1023;
    if (n > 1023) { y *= OX1P1023; n = Math.min(n - 1023, 1023); }
  } else if (n < -1022) {
    y *= OX1P_1022 * OX1P53;
    n += 1022 - 53;
    if (n < -1022) { y *= OX1P_1022 * OX1P53; n = Math.max(n + 1022 - 53, -1022); }
  }
  return y * fromWords((0x3ff + n) << 20, 0);
}

function logPoly(s: number): number {
  const z = s * s;
  const w = z * z;
  const t1 = w * (LG[1] + w * (LG[3] + w * LG[5]));
  const t2 = z * (LG[0] + w * (LG[2] + w * (LG[4] + w * LG[6])));
  return t2 + t1;
}

/** Natural logarithm, musl log.c (bit-identical to the kernel's detLog). */
export function refLog(x: number): number {
  let hx = hiWord(x);
  let lo = loWord(x);
  let k = 0;
  if (hx >>> 31 !== 0 || hx < 0x00100000) {
    if (((hx << 1) | lo) === 0) return -1 / (x * x);
    if (hx >>> 31 !== 0) return (x - x) / 0;
    k -= 54;
    x *= OX1P54;
    hx = hiWord(x);
    lo = loWord(x);
  } else if (hx >= 0x7ff00000) {
    return x;
  } else if (hx === 0x3ff00000 && lo === 0) {
    return 0;
  }
  hx = (hx + (0x3ff00000 - 0x3fe6a09e)) >>> 0;
  k += (hx >>> 20) - 0x3ff;
  hx = (hx & 0x000fffff) + 0x3fe6a09e;
  x = fromWords(hx, lo);
  const f = x - 1.0;
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const r = logPoly(s);
  const dk = k;
  return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
}

/** log(1 + x), musl log1p.c. */
export function refLog1p(x: number): number {
  const hx = hiWord(x);
  let k = 1;
  let c = 0;
  let f = 0;
  if (hx < 0x3fda827a || hx >>> 31 !== 0) {
    if (hx >= 0xbff00000) {
      if (x === -1) return x / 0;
      return (x - x) / 0;
    }
    if (((hx << 1) >>> 0) < ((0x3ca00000 << 1) >>> 0)) return x;
    if (hx <= 0xbfd2bec4) { k = 0; c = 0; f = x; }
  } else if (hx >= 0x7ff00000) return x;
  if (k !== 0) {
    const uf = 1 + x;
    let hu = hiWord(uf);
    const lu = loWord(uf);
    hu = (hu + (0x3ff00000 - 0x3fe6a09e)) >>> 0;
    k = (hu >>> 20) - 0x3ff;
    if (k < 54) {
      c = k >= 2 ? 1 - (uf - x) : x - (uf - 1);
      c /= uf;
    } else c = 0;
    hu = (hu & 0x000fffff) + 0x3fe6a09e;
    f = fromWords(hu, lu) - 1;
  }
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const r = logPoly(s);
  const dk = k;
  return s * (hfsq + r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI;
}

/** e^x, musl exp.c (fdlibm). */
export function refExp(x: number): number {
  let hx = hiWord(x);
  const sign = hx >>> 31;
  hx &= 0x7fffffff;
  if (hx >= 0x4086232b) {
    if (Number.isNaN(x)) return x;
    if (x > EXP_OVERFLOW) return x * OX1P1023;
    if (x < EXP_UNDERFLOW) return 0;
  }
  let hi = 0;
  let lo = 0;
  let k = 0;
  if (hx > 0x3fd62e42) {
    if (hx >= 0x3ff0a2b2) k = Math.trunc(INV_LN2 * x + (sign !== 0 ? -0.5 : 0.5));
    else k = 1 - (sign << 1);
    hi = x - k * LN2_HI;
    lo = k * LN2_LO;
    x = hi - lo;
  } else if (hx > 0x3e300000) {
    hi = x;
  } else return 1.0 + x;
  const xx = x * x;
  const c = x - xx * (P[0] + xx * (P[1] + xx * (P[2] + xx * (P[3] + xx * P[4]))));
  const y = 1.0 + (x * c / (2 - c) - lo + hi);
  return k === 0 ? y : scalbn(y, k);
}

/** e^x - 1, musl expm1.c. */
export function refExpm1(x: number): number {
  const hx = hiWord(x) & 0x7fffffff;
  const sign = hiWord(x) >>> 31;
  let k = 0;
  if (hx >= 0x4043687a) {
    if (Number.isNaN(x)) return x;
    if (sign !== 0) return -1;
    if (x > EXP_OVERFLOW) return x * OX1P1023;
  }
  let c = 0;
  let t: number;
  if (hx > 0x3fd62e42) {
    k = hx < 0x3ff0a2b2 ? 1 - (sign << 1) : Math.trunc(INV_LN2 * x + (sign !== 0 ? -0.5 : 0.5));
    t = k;
    const hi = x - t * LN2_HI;
    const lo = t * LN2_LO;
    x = hi - lo;
    c = (hi - x) - lo;
  } else if (hx < 0x3c900000) return x;
  const hfx = 0.5 * x;
  const hxs = x * hfx;
  const r1 = 1.0 + hxs * (Q[0] + hxs * (Q[1] + hxs * (Q[2] + hxs * (Q[3] + hxs * Q[4]))));
  t = 3.0 - r1 * hfx;
  let e = hxs * ((r1 - t) / (6.0 - x * t));
  if (k === 0) return x - (x * e - hxs);
  e = x * (e - c) - c;
  e -= hxs;
  if (k === -1) return 0.5 * (x - e) - 0.5;
  if (k === 1) {
    if (x < -0.25) return -2.0 * (e - (x + 0.5));
    return 1.0 + 2.0 * (x - e);
  }
  const twopk = fromWords((0x3ff + k) << 20, 0);
  let y: number;
  if (k < 0 || k > 56) {
    y = x - e + 1.0;
    if (k === 1024) y = y * 2.0 * OX1P1023;
    else y = y * twopk;
    return y - 1.0;
  }
  const twomk = fromWords((0x3ff - k) << 20, 0);
  if (k < 20) return (x - e + (1 - twomk)) * twopk;
  return (x - (e + twomk) + 1) * twopk;
}

// ── Zipf (Apache Commons RNG RejectionInversionZipfSampler) ────────────────

function helper1(x: number): number {
  if (Math.abs(x) > 1e-8) return refLog1p(x) / x;
  return 1 - x * (0.5 - x * (1 / 3 - x * 0.25));
}
function helper2(x: number): number {
  if (Math.abs(x) > 1e-8) return refExpm1(x) / x;
  return 1 + x * 0.5 * (1 + x * (1 / 3) * (1 + x * 0.25));
}
function hIntegral(x: number, s: number): number {
  const logX = refLog(x);
  return helper2((1 - s) * logX) * logX;
}
function h(x: number, s: number): number { return refExp(-s * refLog(x)); }
function hIntegralInverse(x: number, s: number): number {
  let t = x * (1 - s);
  if (t < -1) t = -1;
  return refExp(helper1(t) * x);
}

// ── The generator ──────────────────────────────────────────────────────────

export interface ReferenceWorkloadParams {
  /** 0 uniform, 1 zipf, 2 hot/cold, 3 sequential. */
  kind: number;
  seed: bigint;
  firstPage: number;
  pageCount: number;
  writeFraction: number;
  accessBytes: number;
  p1: number;
  p2: number;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** The plain generator: next(count) returns count × 16 record bytes. */
export class ReferenceWorkload {
  #state: bigint;
  readonly #p: ReferenceWorkloadParams;
  readonly #n: bigint;
  readonly #mult: bigint;
  readonly #writeThreshold: number;
  readonly #hotPages: bigint;
  readonly #hotThreshold: number;
  readonly #zipf: { hX1: number; hN: number; slack: number };
  #seqPage = 0n;
  #seqSlot = 0;

  constructor(p: ReferenceWorkloadParams) {
    this.#p = { ...p };
    this.#state = BigInt.asUintN(64, p.seed);
    this.#n = BigInt(p.pageCount);
    let m = BigInt(Math.floor(p.pageCount * 0.6180339887498949));
    if (m < 1n) m = 1n;
    while (gcd(m, this.#n) !== 1n) m++;
    this.#mult = m;
    this.#writeThreshold = Math.floor(p.writeFraction * TWO32 + 0.5);
    this.#hotPages = BigInt(Math.min(Math.max(Math.ceil(p.p1 * p.pageCount), 1), p.pageCount));
    this.#hotThreshold = Math.floor(p.p2 * TWO32 + 0.5);
    const s = p.p1;
    this.#zipf = p.kind === 1
      ? {
        hX1: hIntegral(1.5, s) - 1,
        hN: hIntegral(p.pageCount + 0.5, s),
        slack: 2 - hIntegralInverse(hIntegral(2.5, s) - h(2, s), s),
      }
      : { hX1: 0, hN: 0, slack: 0 };
  }

  /** Multiplier M of the page scramble (exposed for tests). */
  get multiplier(): number { return Number(this.#mult); }

  #next64(): bigint {
    this.#state = (this.#state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = this.#state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
  #draw32(): number { return Number(this.#next64() >> 32n); }
  #bounded(n: bigint): bigint { return (this.#next64() * n) >> 64n; }

  /** Zipf rank in [1, n], exactly Commons' sample(). */
  #zipfRank(): number {
    const s = this.#p.p1;
    const { hX1, hN, slack } = this.#zipf;
    const n = this.#p.pageCount;
    for (;;) {
      const unit = Number(this.#next64() >> 11n) * 2 ** -53;
      const u = hN + unit * (hX1 - hN);
      const x = hIntegralInverse(u, s);
      let k = Math.trunc(x + 0.5);
      if (!(k >= 1)) k = 1;
      else if (k > n) k = n;
      if (k - x <= slack || u >= hIntegral(k + 0.5, s) - h(k, s)) return k;
    }
  }

  #pageIndex(): bigint {
    const n = this.#n;
    switch (this.#p.kind) {
      case 0: return this.#bounded(n);
      case 1: return (BigInt(this.#zipfRank() - 1) * this.#mult) % n;
      case 2: {
        const hot = this.#draw32() < this.#hotThreshold || this.#hotPages === n;
        const j = hot ? this.#bounded(this.#hotPages) : this.#hotPages + this.#bounded(n - this.#hotPages);
        return (j * this.#mult) % n;
      }
      default: throw new Error(`reference: bad kind ${this.#p.kind}`);
    }
  }

  next(count: number): Uint8Array {
    const out = new Uint8Array(count * 16);
    const view = new DataView(out.buffer);
    const { accessBytes, kind } = this.#p;
    const slots = 4096 / accessBytes;
    const first = BigInt(this.#p.firstPage);
    for (let i = 0; i < count; i++) {
      let page: bigint;
      let slot: number;
      if (kind === 3) {
        page = this.#seqPage;
        slot = this.#seqSlot;
        if (++this.#seqSlot === slots) {
          this.#seqSlot = 0;
          if (++this.#seqPage === this.#n) this.#seqPage = 0n;
        }
      } else {
        page = this.#pageIndex();
        slot = Number(this.#bounded(BigInt(slots)));
      }
      const write = this.#draw32() < this.#writeThreshold;
      const seed = this.#draw32();
      view.setBigUint64(i * 16, ((first + page) << 12n) + BigInt(slot * accessBytes), true);
      view.setUint32(i * 16 + 8, seed, true);
      view.setUint16(i * 16 + 12, accessBytes, true);
      view.setUint8(i * 16 + 14, write ? 1 : 0);
    }
    return out;
  }
}

/** Index of the first invalid record in `records` for a guest of `guestPages`, or the record count. */
export function refTraceValidate(records: Uint8Array, guestPages: number): number {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const count = records.byteLength >>> 4;
  const guestBytes = BigInt(guestPages) << 12n;
  for (let i = 0; i < count; i++) {
    const gpa = view.getBigUint64(i * 16, true);
    const len = view.getUint16(i * 16 + 12, true);
    const off = Number(gpa & 4095n);
    if (gpa >= guestBytes || len === 0 || off + len > 4096 || view.getUint8(i * 16 + 14) > 1 || view.getUint8(i * 16 + 15) !== 0) return i;
  }
  return count;
}
