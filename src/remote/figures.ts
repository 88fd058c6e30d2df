// The recovery figures of docs/remote-memory.md: a region of `pages` with a
// baseline, then epochs that dirty a fraction of it (1 %, 10 %, 50 %), then
// three ways to rebuild it on a failover host, each run for real (bytes
// moved and checked) and costed on the link and storage models:
//   lists      the seed: the baseline, then the listed pages one-sided
//   full copy  every home page one-sided (no baseline, no lists)
//   baseline   the baseline alone (the memory host is gone): the dirty pages are lost
import { Buffer } from "node:buffer";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireInt } from "../options.js";
import { xxh3Pages } from "../pages/page-window.js";
import { mulberry32 } from "../sim/prng.js";
import { writeBaseline } from "./baseline.js";
import { writeEpoch } from "./epoch-writer.js";
import { opsNs, resolveRemoteLink, resolveStorageLink, type RemoteLinkModel, type RemoteLinkPreset, type StorageLinkModel } from "./link.js";
import { PAGE_BYTES, listBytes, regionGeometry } from "./region-layout.js";
import { RemoteRegion } from "./region.js";
import { recoverRegion } from "./recovery.js";

export interface RecoveryFiguresOptions {
  /** Region pages. @default 4096 (16 MiB) */
  pages?: number;
  /** @default [0.01, 0.1, 0.5] */
  dirtyFractions?: readonly number[];
  /** Epochs the dirty pages are spread over. @default 10 */
  epochs?: number;
  link?: RemoteLinkPreset | RemoteLinkModel;
  storage?: StorageLinkModel;
  /** @default 1 */
  seed?: number;
}

export interface RecoveryFigureRow {
  readonly dirtyFraction: number;
  readonly dirtyPages: number;
  /** Baseline + lists: simulated time, its one-sided part, bytes read one-sided, wall time here. */
  readonly listsNs: number;
  readonly listsOneSidedNs: number;
  readonly listsBytesRead: number;
  readonly listsWallMs: number;
  readonly fullCopyNs: number;
  readonly fullCopyBytesRead: number;
  readonly fullCopyWallMs: number;
  readonly baselineOnlyNs: number;
  readonly baselineOnlyPagesLost: number;
  /** The rebuilt region equals the region byte for byte (lists and full copy). */
  readonly verified: boolean;
}

/** A region of seeded pages with baseline generation 1 at `path`, then `dirtyPages` pages rewritten over `epochs` epochs. */
export function dirtiedRegion(pages: number, dirtyPages: number, epochs: number, seed: number, path: string): RemoteRegion {
  requireInt("dirtyPages", dirtyPages, 0, pages);
  requireInt("epochs", epochs, 1, 2 ** 20);
  const random = mulberry32(seed);
  const perEpoch = Math.ceil(dirtyPages / epochs);
  const geometry = regionGeometry(pages, Math.max(1, perEpoch), epochs * listBytes(perEpoch) + 64);
  const region = RemoteRegion.format(new SharedArrayBuffer(geometry.totalBytes), geometry);
  const page = new Uint8Array(PAGE_BYTES);
  const words = new Uint32Array(page.buffer);
  const fill = (): void => { for (let i = 0; i < words.length; i++) words[i] = random(); };
  for (let pfn = 0; pfn < pages; pfn++) {
    fill();
    region.writeHome(pfn, page, 1, xxh3Pages(page));
  }
  const home = region.homeView();
  writeBaseline(path, 1, 0, home.pages, home.meta);
  region.startGeneration(1, 0);
  const order = Uint32Array.from({ length: pages }, (_, i) => i);
  for (let i = pages - 1; i > 0; i--) {
    const j = random() % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (let e = 0, done = 0; done < dirtyPages; e++) {
    const pfns = order.subarray(done, Math.min(dirtyPages, done + perEpoch));
    const bytes = new Uint8Array(pfns.length * PAGE_BYTES);
    for (let i = 0; i < pfns.length; i++) {
      fill();
      bytes.set(page, i * PAGE_BYTES);
    }
    writeEpoch(region, e + 1, pfns, bytes);
    done += pfns.length;
  }
  return region;
}

/** Copies every home page of `region` one-sided into a new region, each checked against its XXH3-64. */
export function fullCopy(region: RemoteRegion): Uint8Array {
  const pages = region.geometry.pages;
  const memory = new Uint8Array(new SharedArrayBuffer(pages * PAGE_BYTES));
  for (let pfn = 0; pfn < pages; pfn++) region.readHomeVerified(pfn, memory, pfn * PAGE_BYTES);
  return memory;
}

export function recoveryFigures(options: RecoveryFiguresOptions = {}): RecoveryFigureRow[] {
  const pages = options.pages ?? 4096;
  const link = resolveRemoteLink(options.link);
  const storage = resolveStorageLink(options.storage);
  const dir = mkdtempSync(join(tmpdir(), "hypermem-remote-figures-"));
  try {
    return (options.dirtyFractions ?? [0.01, 0.1, 0.5]).map((dirtyFraction, i) => {
      const dirtyPages = Math.max(1, Math.round(dirtyFraction * pages));
      const path = join(dir, `baseline-${i}`);
      const region = dirtiedRegion(pages, dirtyPages, options.epochs ?? 10, options.seed ?? 1, path);
      const truth = region.homeView().pages;
      const lists = recoverRegion({ region, baselinePath: path, pages, link, storage });
      const fullStarted = performance.now();
      const copied = fullCopy(region);
      const fullCopyWallMs = performance.now() - fullStarted;
      const baseline = recoverRegion({ region: null, baselinePath: path, pages, link, storage });
      return Object.freeze({
        dirtyFraction,
        dirtyPages,
        listsNs: lists.report.recoveryNs,
        listsOneSidedNs: lists.report.oneSidedNs,
        listsBytesRead: lists.report.oneSidedBytesRead,
        listsWallMs: lists.report.wallMs,
        fullCopyNs: opsNs(link, pages, pages * PAGE_BYTES),
        fullCopyBytesRead: pages * PAGE_BYTES,
        fullCopyWallMs,
        baselineOnlyNs: baseline.report.recoveryNs,
        baselineOnlyPagesLost: dirtyPages,
        verified: Buffer.compare(lists.memory, truth) === 0 && Buffer.compare(copied, truth) === 0 && Buffer.compare(baseline.memory, truth) !== 0,
      });
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
