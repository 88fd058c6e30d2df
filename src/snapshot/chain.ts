// A snapshot and the bases it was taken against (Firecracker's diff
// snapshots): the top file first, then its base, that base's base... Each
// file is opened and checked (file-reader.ts), each base must be the very
// snapshot its diff names (same id, same guest size), and the indexes are
// merged into one view of the guest: for each page, the entry of the newest
// layer that has one. Pages whose winning entry is zero (or that no layer
// names) read as zero.
import { dirname, isAbsolute, resolve } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import { SnapshotFile } from "./file-reader.js";
import { corrupt, idHex, PageKind } from "./format.js";

/** The most layers a chain may have (a guard against a base naming itself through others). */
export const MAX_CHAIN_LAYERS = 64;

/** For each page the newest layer names, except zero pages: parallel arrays, ascending pfn. */
export interface MergedIndex {
  readonly pfn: Uint32Array;
  readonly kind: Uint8Array;
  /** 0 = the top file, 1 = its base, ... */
  readonly layer: Uint8Array;
  readonly slot: Uint32Array;
  readonly checksum: Uint32Array;
}

function openBase(diff: SnapshotFile): SnapshotFile {
  const base = diff.config.base!;
  const path = isAbsolute(base.path) ? base.path : resolve(dirname(diff.path), base.path);
  let file: SnapshotFile;
  try {
    file = SnapshotFile.open(path);
  } catch (err) {
    if (err instanceof HypermemError && err.code === ErrorCode.FileIo && err.details.osCode === "ENOENT") {
      throw new HypermemError(ErrorCode.SnapshotBase, `snapshot ${diff.path} is a diff against ${path}, which is missing`, { reason: "missing", path: diff.path, basePath: path, baseId: base.id });
    }
    throw err;
  }
  const found = idHex(file.header.snapshotId);
  if (found !== base.id || file.header.guestPages !== diff.header.guestPages) {
    file.close();
    const what = file.header.guestPages !== diff.header.guestPages
      ? `of a ${file.header.guestPages}-page guest, the diff of a ${diff.header.guestPages}-page one`
      : `snapshot ${found}, not the snapshot ${base.id} the diff was taken against`;
    throw new HypermemError(ErrorCode.SnapshotBase, `snapshot ${diff.path} is a diff against ${path}, which is a different snapshot: ${what}`,
      { reason: "different", path: diff.path, basePath: path, baseId: base.id, foundId: found });
  }
  return file;
}

export class SnapshotChain {
  /** The top file first, its base next, down to a full snapshot. */
  readonly layers: readonly SnapshotFile[];
  readonly merged: MergedIndex;

  private constructor(layers: SnapshotFile[]) {
    this.layers = Object.freeze(layers);
    this.merged = mergeIndexes(layers);
  }

  /** Opens the snapshot at `path` and every base below it; all of it checked before this returns. */
  static open(path: string): SnapshotChain {
    const layers = [SnapshotFile.open(path)];
    try {
      const seen = new Set([idHex(layers[0].header.snapshotId)]);
      for (let top = layers[0]; top.header.diff; top = layers[layers.length - 1]) {
        if (idHex(top.header.baseId) !== top.config.base!.id) {
          throw corrupt(top.path, "config", `the header names base ${idHex(top.header.baseId)}, the config ${top.config.base!.id}`);
        }
        if (layers.length === MAX_CHAIN_LAYERS) throw corrupt(path, "base", `the chain of bases is longer than ${MAX_CHAIN_LAYERS} snapshots`);
        const base = openBase(top);
        layers.push(base);
        const id = idHex(base.header.snapshotId);
        if (seen.has(id)) throw corrupt(path, "base", `the chain of bases comes back to snapshot ${id} (${base.path})`);
        seen.add(id);
      }
      return new SnapshotChain(layers);
    } catch (err) {
      for (const file of layers) file.close();
      throw err;
    }
  }

  get top(): SnapshotFile { return this.layers[0]; }
  get guestPages(): number { return this.top.header.guestPages; }

  /** Bytes of metadata a restore reads first: every layer's header and tail. */
  get metadataBytes(): number { return this.layers.reduce((sum, f) => sum + f.metadataBytes, 0); }

  close(): void { for (const file of this.layers) file.close(); }
}

/** The newest entry of each page across `layers` (top first), zero pages left out. */
function mergeIndexes(layers: readonly SnapshotFile[]): MergedIndex {
  const total = layers.reduce((sum, f) => sum + f.index.pfn.length, 0);
  const out = { pfn: new Uint32Array(total), kind: new Uint8Array(total), layer: new Uint8Array(total), slot: new Uint32Array(total), checksum: new Uint32Array(total) };
  const heads = new Array<number>(layers.length).fill(0);
  let n = 0;
  for (;;) {
    let pfn = Infinity;
    let winner = -1;
    for (let l = 0; l < layers.length; l++) {
      const index = layers[l].index;
      if (heads[l] < index.pfn.length && index.pfn[heads[l]] < pfn) {
        pfn = index.pfn[heads[l]];
        winner = l;
      }
    }
    if (winner < 0) break;
    const index = layers[winner].index;
    const i = heads[winner];
    if (index.kind[i] !== PageKind.Zero) {
      out.pfn[n] = pfn;
      out.kind[n] = index.kind[i];
      out.layer[n] = winner;
      out.slot[n] = index.slot[i];
      out.checksum[n] = index.checksum[i];
      n++;
    }
    for (let l = 0; l < layers.length; l++) if (heads[l] < layers[l].index.pfn.length && layers[l].index.pfn[heads[l]] === pfn) heads[l]++;
  }
  return { pfn: out.pfn.slice(0, n), kind: out.kind.slice(0, n), layer: out.layer.slice(0, n), slot: out.slot.slice(0, n), checksum: out.checksum.slice(0, n) };
}
