// Does a migration's guest fit its hosts? The arithmetic behind refusing a
// guest up front (instead of ERR_OUT_OF_FRAMES after a minute of work) and
// behind the default host size. A host hands out 4 KiB frames; what one
// host needs for the guest, frame by frame:
//
//   part                          frames                                   host
//   ────────────────────────────  ───────────────────────────────────────  ───────────
//   zero frame                    1                                        both
//   guest pages written           W = max(prefilled, workload range*)      both
//   nested page table             1 + ⌈T/2^27⌉ + ⌈T/2^18⌉ + ⌈T/2^9⌉          both
//                                 (4 levels of 512 entries over the
//                                 T = max(prefilled, workload range)
//                                 pages mapped; reads map tables too)
//   dirty-log page sets           3 × ⌈⌈P/64⌉ × 8 / 4096⌉                    source
//                                 (the migration's reader, the log's
//                                 harvest set, Xen's round set)
//   XBZRLE cache                  ⌈cache pages × 4104 / 4096⌉               source
//                                 (a page and an 8-byte tag per entry)
//   digest table                  ⌈P × 8 / 4096⌉ when P ≤ 2^23              destination
//   stream buffers (allowance)    1024 (4 MiB: page lists, chunk buffers)  both
//
//   P = guest pages; * the workload range counts only if the workload writes.
//   Both ranges start at guest page 0, so W is the larger of the two, not
//   their sum. The figures follow the library's allocations (src/host/vm.ts,
//   page-log.ts, src/migration/precopy.ts, src/stream/packer.ts, receiver.ts):
//   a VM takes its root table when created, a page set per dirty-log reader
//   when one opens. An upper bound, at most
//   the buffer allowance above what the hosts really take (test/cli-fit.test.ts
//   checks both against the hosts' frame counters during real migrations).
import { createHost, MAX_HOST_MIB } from "../host/host.js";
import { DIGEST_TABLE_MAX_PAGES } from "../stream/receiver.js";
import { formatCount, PAGE_BYTES, spellSize } from "./units.js";

const PAGES_PER_MIB = 256;
/** The library's XBZRLE cache entry: a page and its 8-byte tag. */
const CACHE_ENTRY_BYTES = PAGE_BYTES + 8;
const BUFFER_ALLOWANCE_FRAMES = 1024;
/** What the default host size adds beyond the guest's pages and the cache, MiB (as buildScenario does). */
const DEFAULT_HOST_SLACK_MIB = 256;

/** What the guest of a migration will hold. */
export interface GuestFootprint {
  readonly guestPages: number;
  /** Pages the prefill writes: the first `prefilledPages` of the guest. */
  readonly prefilledPages: number;
  /** Pages from guest page 0 the workload may access. */
  readonly workloadPages: number;
  /** Whether the workload writes (a trace is assumed to). */
  readonly workloadWrites: boolean;
  /** 0 without XBZRLE. */
  readonly xbzrleCacheBytes: number;
}

/** Frames one host needs, part by part. */
export interface HostNeed {
  readonly side: "source" | "destination";
  readonly writtenPages: number;
  readonly mappedPages: number;
  readonly tableFrames: number;
  readonly bitmapFrames: number;
  readonly cacheFrames: number;
  readonly digestFrames: number;
  readonly bufferFrames: number;
  readonly totalFrames: number;
}

const framesFor = (bytes: number): number => Math.ceil(bytes / PAGE_BYTES);
const bitmapFrames = (pages: number): number => framesFor(Math.ceil(pages / 64) * 8);

/** The frames of a 4-level table of 512 entries mapping guest pages [0, pages). */
export function tableFrames(pages: number): number {
  return 1 + Math.ceil(pages / 2 ** 27) + Math.ceil(pages / 2 ** 18) + Math.ceil(pages / 2 ** 9);
}

/** The guest pages that get a frame of their own: the larger of the prefill and a writing workload's range. */
function writtenPages(g: GuestFootprint): number {
  return Math.max(g.prefilledPages, g.workloadWrites ? g.workloadPages : 0);
}

/** What `side` needs for the guest `g`. */
export function hostNeed(g: GuestFootprint, side: "source" | "destination"): HostNeed {
  const written = writtenPages(g);
  const mapped = Math.max(g.prefilledPages, g.workloadPages);
  const tables = tableFrames(mapped);
  const bitmaps = side === "source" ? bitmapFrames(g.guestPages) * 3 : 0;
  const cache = side === "source" ? framesFor(g.xbzrleCacheBytes / PAGE_BYTES * CACHE_ENTRY_BYTES) : 0;
  const digest = side === "destination" && g.guestPages <= DIGEST_TABLE_MAX_PAGES ? framesFor(g.guestPages * 8) : 0;
  return Object.freeze({
    side, writtenPages: written, mappedPages: mapped, tableFrames: tables, bitmapFrames: bitmaps, cacheFrames: cache, digestFrames: digest,
    bufferFrames: BUFFER_ALLOWANCE_FRAMES,
    totalFrames: 1 + written + tables + bitmaps + cache + digest + BUFFER_ALLOWANCE_FRAMES,
  });
}

/** The larger need of the two hosts (only the source's when the destination is another process). */
export function largestNeed(g: GuestFootprint, withDestination: boolean): HostNeed {
  const source = hostNeed(g, "source");
  if (!withDestination) return source;
  const destination = hostNeed(g, "destination");
  return destination.totalFrames > source.totalFrames ? destination : source;
}

/**
 * The host size `hypermem migrate` uses without --host-memory, MiB: the pages
 * the guest can write, the XBZRLE cache and 256 MiB for tables, logs and
 * buffers, at most 4 GiB. With the whole guest prefilled this is buildScenario's
 * own default (guest × prefill + cache + 256 MiB).
 */
export function defaultHostMiB(g: GuestFootprint): number {
  const pages = writtenPages(g);
  return Math.min(MAX_HOST_MIB, Math.ceil(pages / PAGES_PER_MIB) + Math.ceil(g.xbzrleCacheBytes / 2 ** 20) + DEFAULT_HOST_SLACK_MIB);
}

const framesByMiB = new Map<number, number>();

/** The frames a host of `hostMiB` hands out (measured on a host of that size: wasm32 caps the largest). */
export function hostFrames(hostMiB: number): number {
  let frames = framesByMiB.get(hostMiB);
  if (frames === undefined) {
    frames = createHost({ memoryMiB: hostMiB }).maxFrames;
    framesByMiB.set(hostMiB, frames);
  }
  return frames;
}

/**
 * The largest n in [1, high] for which the guest `footprintFor(n)` fits
 * `frames`, or 0 when none does (`footprintFor` must need more as n grows).
 */
export function largestThatFits(high: number, frames: number, withDestination: boolean, footprintFor: (n: number) => GuestFootprint): number {
  const fits = (n: number): boolean => largestNeed(footprintFor(n), withDestination).totalFrames <= frames;
  if (high < 1 || !fits(1)) return 0;
  let low = 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (fits(mid)) low = mid;
    else high = mid - 1;
  }
  return low;
}

/** The smallest host, MiB, that holds `need`, or null when even a 4 GiB host cannot. */
export function smallestHostMiB(need: HostNeed): number | null {
  if (need.totalFrames > hostFrames(MAX_HOST_MIB)) return null;
  return Math.min(MAX_HOST_MIB, Math.ceil(need.totalFrames / PAGES_PER_MIB));
}

/** The arithmetic, one line per part, for a refusal. */
export function needLines(need: HostNeed, hostMiB: number, frames: number, workloadText: string, g: GuestFootprint): string[] {
  const n = (v: number): string => formatCount(v).padStart(13);
  const writes = g.workloadWrites && g.workloadPages > g.prefilledPages
    ? `the workload (${workloadText}) can write any of its ${formatCount(g.workloadPages)}; the prefill writes ${formatCount(g.prefilledPages)}`
    : `the prefill writes ${formatCount(g.prefilledPages)}${g.workloadWrites ? `; the workload (${workloadText}) stays within them` : ""}`;
  const lines = [
    `frames of 4 KiB the ${need.side} host needs:`,
    `${n(need.writtenPages)}  guest pages written: ${writes}`,
    `${n(need.tableFrames + 1)}  nested page tables for ${formatCount(need.mappedPages)} pages mapped, and the zero frame`,
  ];
  if (need.bitmapFrames > 0) lines.push(`${n(need.bitmapFrames)}  dirty-log page sets (the migration's reader, the log's harvest set, Xen's round set)`);
  if (need.cacheFrames > 0) lines.push(`${n(need.cacheFrames)}  XBZRLE cache of ${spellSize(g.xbzrleCacheBytes)}`);
  if (need.digestFrames > 0) lines.push(`${n(need.digestFrames)}  digest table of the received guest`);
  lines.push(
    `${n(need.bufferFrames)}  stream buffers (an allowance)`,
    `${n(need.totalFrames)}  in all, more than the ${formatCount(frames)} frames of a ${spellSize(hostMiB * 2 ** 20)} host`,
  );
  return lines;
}
