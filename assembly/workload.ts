// Seeded guest access generators: uniform, Zipf, hot/cold and sequential
// sweep. Each fills 16-byte access records (layout in mmu.ts) from a
// descriptor that holds its parameters and its PRNG state, so a generator can
// be paused and resumed, and the same seed gives the same records, byte for
// byte, on every engine. test/reference/workload.ts is the TypeScript oracle.
//
// Workload descriptor (WORKLOAD_DESC_BYTES = 128, little endian; one slot of
// the control block, layout.ts):
//
//   0        8        12       16       24       32       40       48       56
//   ┌────────┬────────┬────────┬────────┬────────┬────────┬────────┬────────┐
//   │ state  │ kind   │ access │ first  │ page   │ mult   │ write  │ rsvd   │
//   │ u64    │ u32    │ Bytes  │ Page   │ Count  │ M      │ Thresh │        │
//   │        │        │ u32    │ u64    │ u64    │ u64    │ u64    │        │
//   ├────────┴────────┴────────┴────────┴────────┴────────┴────────┴────────┤
//   │ 56: kind-specific, 72 bytes                                            │
//   │   zipf       +56 f64 exponent s     +64 f64 hIntegralX1               │
//   │              +72 f64 hIntegralN     +80 f64 slack (Commons "s")       │
//   │   hot/cold   +56 u64 hotPages       +64 u64 hotThreshold              │
//   │   sequential +56 u64 page cursor    +64 u32 slot cursor               │
//   └────────────────────────────────────────────────────────────────────────┘
//   state         SplitMix64 state (starts at the seed)
//   mult M        page scramble multiplier, gcd(M, pageCount) = 1
//   writeThresh   floor(writeFraction × 2^32 + 0.5), in 0..2^32
//   hotThreshold  floor(hotProbability × 2^32 + 0.5), in 0..2^32
//
// Draws. Every draw consumes one SplitMix64 output x (u64):
//   draw32        = x >>> 32
//   bounded(x, n) = floor(x × n / 2^64)  (n ≤ 2^32; bias ≤ n / 2^64)
//   unit(x)       = (x >>> 11) × 2^-53   (in [0, 1), as Commons nextDouble)
//
// Per record, in this order:
//   1. page index i in [0, pageCount):
//      uniform     i = bounded(x, pageCount)                           (1 draw)
//      zipf        rank r by rejection-inversion, one unit(x) per try
//                  (u = hIntegralN + unit(x) × (hIntegralX1 - hIntegralN));
//                  i = (r - 1) × M mod pageCount                    (≥ 1 draw)
//      hot/cold    hot = draw32 < hotThreshold, or the cold set is empty;
//                  j = bounded(x, hotPages)                         if hot
//                    = hotPages + bounded(x, pageCount - hotPages)  if cold
//                  i = j × M mod pageCount                            (2 draws)
//      sequential  i = page cursor                                    (0 draws)
//   2. slot: bounded(x, 4096 / accessBytes) (1 draw); sequential: the slot
//      cursor (0 draws), then cursors advance: next slot, next page after the
//      last slot, page 0 after the last page.
//   3. op = write if draw32 < writeThreshold, else read              (1 draw)
//   4. seed = draw32                                                  (1 draw)
//   record: gpa = (firstPage + i) × 4096 + slot × accessBytes,
//           length = accessBytes, rsvd = 0.
//
// Page scrambling: Zipf rank r and hot/cold index j map through
// j ↦ j × M mod pageCount, a bijection of the range because gcd(M,
// pageCount) = 1. M is the first integer ≥ max(1, floor(pageCount ×
// 0.6180339887498949)) (the golden ratio conjugate, as in Fibonacci hashing,
// computed in f64) coprime with
// pageCount, so the hottest pages are spread over the whole range instead of
// sitting in its first pages.
//
// Zipf: Hörmann and Derflinger's rejection-inversion, exactly as Apache
// Commons RNG RejectionInversionZipfSampler (valid for every s > 0, s = 1
// included); rank 1 is the hottest. Its log, exp, log1p and expm1 are written
// out below with +, -, ×, / and bit moves only, following musl's fdlibm-based
// C (pre-2018 log.c and exp.c, log1p.c, expm1.c) operation for operation, so
// the TypeScript oracle reproduces them bit for bit. Engine Math functions
// may differ by an ulp, and AssemblyScript's own Math regroups some of these
// polynomials, which changes roundings: neither is used here.
import { PAGE_SIZE } from "./layout";
import { ACCESS_BYTES, OP_WRITE } from "./mmu";
import { ERR_BAD_ACCESS, ERR_GFN_RANGE } from "./status";

// @ts-ignore: decorator
@inline export const KIND_UNIFORM: u32 = 0;
// @ts-ignore: decorator
@inline export const KIND_ZIPF: u32 = 1;
// @ts-ignore: decorator
@inline export const KIND_HOTCOLD: u32 = 2;
// @ts-ignore: decorator
@inline export const KIND_SEQUENTIAL: u32 = 3;
/** Largest page range a generator draws from: 2^32 pages (16 TiB). */
// @ts-ignore: decorator
@inline export const MAX_WORKLOAD_PAGES: u64 = 1 << 32;

// Descriptor field offsets (see the diagram above).
// @ts-ignore: decorator
@inline const W_STATE: usize = 0;
// @ts-ignore: decorator
@inline const W_KIND: usize = 8;
// @ts-ignore: decorator
@inline const W_ACCESS_BYTES: usize = 12;
// @ts-ignore: decorator
@inline const W_FIRST_PAGE: usize = 16;
// @ts-ignore: decorator
@inline const W_PAGE_COUNT: usize = 24;
// @ts-ignore: decorator
@inline const W_MULT: usize = 32;
// @ts-ignore: decorator
@inline const W_WRITE_THRESHOLD: usize = 40;
// @ts-ignore: decorator
@inline const W_ZIPF_S: usize = 56;
// @ts-ignore: decorator
@inline const W_ZIPF_HX1: usize = 64;
// @ts-ignore: decorator
@inline const W_ZIPF_HN: usize = 72;
// @ts-ignore: decorator
@inline const W_ZIPF_SLACK: usize = 80;
// @ts-ignore: decorator
@inline const W_HOT_PAGES: usize = 56;
// @ts-ignore: decorator
@inline const W_HOT_THRESHOLD: usize = 64;
// @ts-ignore: decorator
@inline const W_SEQ_PAGE: usize = 56;
// @ts-ignore: decorator
@inline const W_SEQ_SLOT: usize = 64;
// @ts-ignore: decorator
@inline const W_DESC_BYTES: usize = 128;

// ── SplitMix64 and draws ────────────────────────────────────────────────────

/** Advances the SplitMix64 state at `d` and returns the next output. */
// @ts-ignore: decorator
@inline function next64(d: usize): u64 {
  const s = load<u64>(d, W_STATE) + 0x9e3779b97f4a7c15;
  store<u64>(d, s, W_STATE);
  let z = s;
  z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >>> 27)) * 0x94d049bb133111eb;
  return z ^ (z >>> 31);
}

/** floor(x × n / 2^64) without 128-bit arithmetic. INVARIANT: n ≤ 2^32. */
// @ts-ignore: decorator
@inline function bounded(x: u64, n: u64): u64 {
  return ((x >>> 32) * n + (((x & 0xffffffff) * n) >>> 32)) >>> 32;
}

/** floor(v × 2^32 + 0.5) for v in [0, 1]: a threshold compared with draw32. */
function threshold32(v: f64): u64 {
  return <u64>Math.floor(v * 4294967296.0 + 0.5);
}

function gcd(a: u64, b: u64): u64 {
  while (b != 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/** The scramble multiplier: first M ≥ max(1, floor(n × 0.618…)) with gcd(M, n) = 1. */
function scrambleMultiplier(n: u64): u64 {
  let m = <u64>Math.floor(<f64>n * 0.6180339887498949);
  if (m < 1) m = 1;
  while (gcd(m, n) != 1) m++;
  return m;
}

// ── Deterministic math (musl's fdlibm-based C, operation for operation) ─────

/** x × 2^n (musl scalbn). */
function detScalbn(x: f64, n: i32): f64 {
  let y = x;
  if (n > 1023) {
    y *= reinterpret<f64>(0x7fe0000000000000);
    n -= 1023;
    if (n > 1023) {
      y *= reinterpret<f64>(0x7fe0000000000000);
      n = min<i32>(n - 1023, 1023);
    }
  } else if (n < -1022) {
    y *= reinterpret<f64>(0x0010000000000000) * reinterpret<f64>(0x4340000000000000);
    n += 1022 - 53;
    if (n < -1022) {
      y *= reinterpret<f64>(0x0010000000000000) * reinterpret<f64>(0x4340000000000000);
      n = max<i32>(n + 1022 - 53, -1022);
    }
  }
  return y * reinterpret<f64>(<u64>(0x3ff + n) << 52);
}

// Shared log polynomial (fdlibm Lg1..Lg7) and ln 2 split.
// @ts-ignore: decorator
@inline const LN2_HI: f64 = reinterpret<f64>(0x3fe62e42fee00000);
// @ts-ignore: decorator
@inline const LN2_LO: f64 = reinterpret<f64>(0x3dea39ef35793c76);
// @ts-ignore: decorator
@inline const INV_LN2: f64 = reinterpret<f64>(0x3ff71547652b82fe);

// @ts-ignore: decorator
@inline function logPoly(s: f64): f64 {
  const z = s * s;
  const w = z * z;
  const t1 = w * (reinterpret<f64>(0x3fd999999997fa04) + w * (reinterpret<f64>(0x3fcc71c51d8e78af) + w * reinterpret<f64>(0x3fc39a09d078c69f)));
  const t2 = z * (reinterpret<f64>(0x3fe5555555555593) + w * (reinterpret<f64>(0x3fd2492494229359) + w * (reinterpret<f64>(0x3fc7466496cb03de) + w * reinterpret<f64>(0x3fc2f112df3e5244))));
  return t2 + t1;
}

/** Natural logarithm (musl log.c, fdlibm algorithm). */
function detLog(x: f64): f64 {
  let u = reinterpret<u64>(x);
  let hx = <u32>(u >>> 32);
  let k: i32 = 0;
  if ((hx >>> 31) != 0 || hx < 0x00100000) {
    if (u << 1 == 0) return -1 / (x * x);
    if ((hx >>> 31) != 0) return (x - x) / 0.0;
    k -= 54;
    x *= reinterpret<f64>(0x4350000000000000);
    u = reinterpret<u64>(x);
    hx = <u32>(u >>> 32);
  } else if (hx >= 0x7ff00000) {
    return x;
  } else if (hx == 0x3ff00000 && u << 32 == 0) {
    return 0;
  }
  hx += 0x3ff00000 - 0x3fe6a09e;
  k += <i32>(hx >>> 20) - 0x3ff;
  hx = (hx & 0x000fffff) + 0x3fe6a09e;
  x = reinterpret<f64>((<u64>hx << 32) | (u & 0xffffffff));
  const f = x - 1.0;
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const r = logPoly(s);
  const dk = <f64>k;
  return s * (hfsq + r) + dk * LN2_LO - hfsq + f + dk * LN2_HI;
}

/** log(1 + x) (musl log1p.c). */
function detLog1p(x: f64): f64 {
  let u = reinterpret<u64>(x);
  let hx = <u32>(u >>> 32);
  let k: i32 = 1;
  let c = 0.0;
  let f = 0.0;
  if (hx < 0x3fda827a || (hx >>> 31) != 0) {
    if (hx >= 0xbff00000) {
      if (x == -1) return x / 0.0;
      return (x - x) / 0.0;
    }
    if (hx << 1 < 0x3ca00000 << 1) return x;
    if (hx <= 0xbfd2bec4) {
      k = 0;
      c = 0;
      f = x;
    }
  } else if (hx >= 0x7ff00000) return x;
  if (k != 0) {
    u = reinterpret<u64>(1 + x);
    let hu = <u32>(u >>> 32);
    hu += 0x3ff00000 - 0x3fe6a09e;
    k = <i32>(hu >>> 20) - 0x3ff;
    if (k < 54) {
      const uf = reinterpret<f64>(u);
      c = k >= 2 ? 1 - (uf - x) : x - (uf - 1);
      c /= uf;
    } else c = 0;
    hu = (hu & 0x000fffff) + 0x3fe6a09e;
    f = reinterpret<f64>((<u64>hu << 32) | (u & 0xffffffff)) - 1;
  }
  const hfsq = 0.5 * f * f;
  const s = f / (2.0 + f);
  const r = logPoly(s);
  const dk = <f64>k;
  return s * (hfsq + r) + (dk * LN2_LO + c) - hfsq + f + dk * LN2_HI;
}

/** e^x (musl exp.c, fdlibm algorithm). */
function detExp(x: f64): f64 {
  let hx = <u32>(reinterpret<u64>(x) >>> 32);
  const sign = <i32>(hx >>> 31);
  hx &= 0x7fffffff;
  if (hx >= 0x4086232b) {
    if (isNaN(x)) return x;
    if (x > reinterpret<f64>(0x40862e42fefa39ef)) return x * reinterpret<f64>(0x7fe0000000000000);
    if (x < reinterpret<f64>(0xc0874910d52d3051)) return 0;
  }
  let hi: f64 = 0;
  let lo: f64 = 0;
  let k: i32 = 0;
  if (hx > 0x3fd62e42) {
    if (hx >= 0x3ff0a2b2) {
      k = <i32>Math.trunc(INV_LN2 * x + (sign != 0 ? -0.5 : 0.5));
    } else {
      k = 1 - (sign << 1);
    }
    hi = x - <f64>k * LN2_HI;
    lo = <f64>k * LN2_LO;
    x = hi - lo;
  } else if (hx > 0x3e300000) {
    hi = x;
  } else return 1.0 + x;
  const xx = x * x;
  const c = x - xx * (reinterpret<f64>(0x3fc555555555553e) + xx * (reinterpret<f64>(0xbf66c16c16bebd93) + xx * (reinterpret<f64>(0x3f11566aaf25de2c) + xx * (reinterpret<f64>(0xbebbbd41c5d26bf1) + xx * reinterpret<f64>(0x3e66376972bea4d0)))));
  const y = 1.0 + (x * c / (2 - c) - lo + hi);
  return k == 0 ? y : detScalbn(y, k);
}

/** e^x - 1 (musl expm1.c). */
function detExpm1(x: f64): f64 {
  let u = reinterpret<u64>(x);
  const hx = <u32>(u >>> 32) & 0x7fffffff;
  const sign = <i32>(u >>> 63);
  let k: i32 = 0;
  if (hx >= 0x4043687a) {
    if (isNaN(x)) return x;
    if (sign != 0) return -1;
    if (x > reinterpret<f64>(0x40862e42fefa39ef)) return x * reinterpret<f64>(0x7fe0000000000000);
  }
  let c = 0.0;
  let t: f64;
  if (hx > 0x3fd62e42) {
    k = hx < 0x3ff0a2b2 ? 1 - (sign << 1) : <i32>Math.trunc(INV_LN2 * x + (sign != 0 ? -0.5 : 0.5));
    t = <f64>k;
    const hi = x - t * LN2_HI;
    const lo = t * LN2_LO;
    x = hi - lo;
    c = (hi - x) - lo;
  } else if (hx < 0x3c900000) return x;
  const hfx = 0.5 * x;
  const hxs = x * hfx;
  const r1 = 1.0 + hxs * (reinterpret<f64>(0xbfa11111111110f4) + hxs * (reinterpret<f64>(0x3f5a01a019fe5585) + hxs * (reinterpret<f64>(0xbf14ce199eaadbb7) + hxs * (reinterpret<f64>(0x3ed0cfca86e65239) + hxs * reinterpret<f64>(0xbe8afdb76e09c32d)))));
  t = 3.0 - r1 * hfx;
  let e = hxs * ((r1 - t) / (6.0 - x * t));
  if (k == 0) return x - (x * e - hxs);
  e = x * (e - c) - c;
  e -= hxs;
  if (k == -1) return 0.5 * (x - e) - 0.5;
  if (k == 1) {
    if (x < -0.25) return -2.0 * (e - (x + 0.5));
    return 1.0 + 2.0 * (x - e);
  }
  const twopk = reinterpret<f64>(<u64>(0x3ff + k) << 52);
  let y: f64;
  if (k < 0 || k > 56) {
    y = x - e + 1.0;
    if (k == 1024) y = y * 2.0 * reinterpret<f64>(0x7fe0000000000000);
    else y = y * twopk;
    return y - 1.0;
  }
  const twomk = reinterpret<f64>(<u64>(0x3ff - k) << 52);
  if (k < 20) return (x - e + (1 - twomk)) * twopk;
  return (x - (e + twomk) + 1) * twopk;
}

// ── Zipf: rejection-inversion (Apache Commons RNG) ──────────────────────────

/** log1p(x) / x, with a series near 0. */
function zipfHelper1(x: f64): f64 {
  if (Math.abs(x) > 1e-8) return detLog1p(x) / x;
  return 1 - x * (0.5 - x * (1.0 / 3.0 - x * 0.25));
}

/** expm1(x) / x, with a series near 0. */
function zipfHelper2(x: f64): f64 {
  if (Math.abs(x) > 1e-8) return detExpm1(x) / x;
  return 1 + x * 0.5 * (1 + x * (1.0 / 3.0) * (1 + x * 0.25));
}

/** H(x) = (x^(1-s) - 1) / (1 - s), or log x when s = 1: the integral of the hat. */
function zipfHIntegral(x: f64, s: f64): f64 {
  const logX = detLog(x);
  return zipfHelper2((1 - s) * logX) * logX;
}

/** h(x) = x^-s: the hat function. */
function zipfH(x: f64, s: f64): f64 {
  return detExp(-s * detLog(x));
}

/** H^-1(x). */
function zipfHIntegralInverse(x: f64, s: f64): f64 {
  let t = x * (1 - s);
  if (t < -1) t = -1;
  return detExp(zipfHelper1(t) * x);
}

/** One Zipf rank in [1, n] from the descriptor's PRNG. */
function zipfRank(d: usize, n: u64): u64 {
  const s = load<f64>(d, W_ZIPF_S);
  const hX1 = load<f64>(d, W_ZIPF_HX1);
  const hN = load<f64>(d, W_ZIPF_HN);
  const slack = load<f64>(d, W_ZIPF_SLACK);
  const nf = <f64>n;
  while (true) {
    const u = hN + <f64>(next64(d) >>> 11) * reinterpret<f64>(0x3ca0000000000000) * (hX1 - hN);
    const x = zipfHIntegralInverse(u, s);
    // Commons truncates (int)(x + 0.5) then clamps to [1, n]; floor agrees after the clamp.
    let k = Math.floor(x + 0.5);
    if (!(k >= 1)) k = 1;
    else if (k > nf) k = nf;
    if (k - x <= slack || u >= zipfHIntegral(k + 0.5, s) - zipfH(k, s)) return <u64>k;
  }
}

// ── Kernels ─────────────────────────────────────────────────────────────────

/**
 * Sets up the generator descriptor at `descPtr` (128 bytes, diagram above).
 * kind: 0 uniform, 1 Zipf (p1 = exponent s > 0), 2 hot/cold (p1 = hot
 * fraction in (0, 1], p2 = probability of a hot access in [0, 1]),
 * 3 sequential. Returns 0, -ERR_GFN_RANGE when pageCount is 0 or above 2^32
 * or the range ends past 2^52 pages, or -ERR_BAD_ACCESS for any other bad
 * parameter (kind, accessBytes not a power of two in 8..4096, writeFraction,
 * p1, p2 out of range).
 */
export function workloadInit(
  descPtr: usize, kind: u32, seed: u64, firstPage: u64, pageCount: u64,
  writeFraction: f64, accessBytes: u32, p1: f64, p2: f64,
): i32 {
  if (accessBytes < 8 || accessBytes > PAGE_SIZE || popcnt<u32>(accessBytes) != 1) return -ERR_BAD_ACCESS;
  if (pageCount == 0 || pageCount > MAX_WORKLOAD_PAGES || firstPage > (<u64>1 << 52) - pageCount) return -ERR_GFN_RANGE;
  if (!(writeFraction >= 0 && writeFraction <= 1)) return -ERR_BAD_ACCESS;
  if (kind == KIND_ZIPF) {
    if (!(p1 > 0 && p1 < Infinity)) return -ERR_BAD_ACCESS;
  } else if (kind == KIND_HOTCOLD) {
    if (!(p1 > 0 && p1 <= 1) || !(p2 >= 0 && p2 <= 1)) return -ERR_BAD_ACCESS;
  } else if (kind != KIND_UNIFORM && kind != KIND_SEQUENTIAL) {
    return -ERR_BAD_ACCESS;
  }
  memory.fill(descPtr, 0, W_DESC_BYTES);
  store<u64>(descPtr, seed, W_STATE);
  store<u32>(descPtr, kind, W_KIND);
  store<u32>(descPtr, accessBytes, W_ACCESS_BYTES);
  store<u64>(descPtr, firstPage, W_FIRST_PAGE);
  store<u64>(descPtr, pageCount, W_PAGE_COUNT);
  store<u64>(descPtr, scrambleMultiplier(pageCount), W_MULT);
  store<u64>(descPtr, threshold32(writeFraction), W_WRITE_THRESHOLD);
  if (kind == KIND_ZIPF) {
    store<f64>(descPtr, p1, W_ZIPF_S);
    store<f64>(descPtr, zipfHIntegral(1.5, p1) - 1, W_ZIPF_HX1);
    store<f64>(descPtr, zipfHIntegral(<f64>pageCount + 0.5, p1), W_ZIPF_HN);
    store<f64>(descPtr, 2 - zipfHIntegralInverse(zipfHIntegral(2.5, p1) - zipfH(2, p1), p1), W_ZIPF_SLACK);
  } else if (kind == KIND_HOTCOLD) {
    let hot = <u64>Math.ceil(p1 * <f64>pageCount);
    if (hot < 1) hot = 1;
    if (hot > pageCount) hot = pageCount;
    store<u64>(descPtr, hot, W_HOT_PAGES);
    store<u64>(descPtr, threshold32(p2), W_HOT_THRESHOLD);
  }
  return 0;
}

/** The next page index in [0, pageCount) of a random-page generator (steps 1 of the header). */
// @ts-ignore: decorator
@inline function randomPageIndex(d: usize, kind: u32, n: u64): u64 {
  if (kind == KIND_UNIFORM) return bounded(next64(d), n);
  const m = load<u64>(d, W_MULT);
  let j: u64;
  if (kind == KIND_ZIPF) {
    j = zipfRank(d, n) - 1;
  } else {
    const hotPages = load<u64>(d, W_HOT_PAGES);
    const hot = <u64>(next64(d) >>> 32) < load<u64>(d, W_HOT_THRESHOLD) || hotPages == n;
    const x = next64(d);
    j = hot ? bounded(x, hotPages) : hotPages + bounded(x, n - hotPages);
  }
  // INVARIANT: j < n ≤ 2^32 and m < n, so j × m < 2^64.
  return (j * m) % n;
}

/** Writes op, length, seed and rsvd of record `rec` (steps 3 and 4 of the header). */
// @ts-ignore: decorator
@inline function finishRecord(d: usize, rec: usize, gpa: u64, accessBytes: u32, writeThreshold: u64): void {
  const op: u8 = <u64>(next64(d) >>> 32) < writeThreshold ? OP_WRITE : 0;
  const seed = <u32>(next64(d) >>> 32);
  store<u64>(rec, gpa);
  store<u32>(rec, seed, 8);
  store<u16>(rec, <u16>accessBytes, 12);
  store<u8>(rec, op, 14);
  store<u8>(rec, 0, 15);
}

/**
 * Writes `count` access records to `outPtr` from the generator at `descPtr`
 * and advances its state. INVARIANT: the descriptor was set up by
 * workloadInit and `outPtr` has room for count × 16 bytes.
 */
export function workloadGenerate(descPtr: usize, outPtr: usize, count: u32): void {
  const d = descPtr;
  const kind = load<u32>(d, W_KIND);
  const accessBytes = load<u32>(d, W_ACCESS_BYTES);
  const slots = <u64>(PAGE_SIZE / accessBytes);
  const first = load<u64>(d, W_FIRST_PAGE);
  const n = load<u64>(d, W_PAGE_COUNT);
  const writeThreshold = load<u64>(d, W_WRITE_THRESHOLD);
  if (kind == KIND_SEQUENTIAL) {
    let page = load<u64>(d, W_SEQ_PAGE);
    let slot = <u64>load<u32>(d, W_SEQ_SLOT);
    for (let i: u32 = 0; i < count; i++) {
      const gpa = ((first + page) << 12) + slot * accessBytes;
      finishRecord(d, outPtr + (<usize>i << 4), gpa, accessBytes, writeThreshold);
      if (++slot == slots) {
        slot = 0;
        if (++page == n) page = 0;
      }
    }
    store<u64>(d, page, W_SEQ_PAGE);
    store<u32>(d, <u32>slot, W_SEQ_SLOT);
    return;
  }
  for (let i: u32 = 0; i < count; i++) {
    const page = randomPageIndex(d, kind, n);
    const slot = bounded(next64(d), slots);
    const gpa = ((first + page) << 12) + slot * accessBytes;
    finishRecord(d, outPtr + (<usize>i << 4), gpa, accessBytes, writeThreshold);
  }
}

/**
 * Index of the first of the `count` records at `ptr` that is invalid for a
 * guest of `guestPages` pages (gpa past the guest, length 0 or above 4096, an
 * access crossing a 4 KiB page, op above 1, rsvd not zero), or `count`.
 */
export function traceValidate(ptr: usize, count: u32, guestPages: u64): u32 {
  const guestBytes: u64 = guestPages >= (<u64>1 << 52) ? u64.MAX_VALUE : guestPages << 12;
  for (let i: u32 = 0; i < count; i++) {
    const rec = ptr + <usize>i * ACCESS_BYTES;
    const gpa = load<u64>(rec);
    const len = <u32>load<u16>(rec, 12);
    const off = <u32>gpa & (PAGE_SIZE - 1);
    if (gpa >= guestBytes || len == 0 || off + len > PAGE_SIZE || load<u8>(rec, 14) > OP_WRITE || load<u8>(rec, 15) != 0) return i;
  }
  return count;
}
