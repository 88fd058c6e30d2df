// Writing one snapshot file crash-safely (src/format/atomic-file.ts): pages
// go to data slots as they are saved, in whatever order; finish() appends
// the index, the active set, the config and the trailer, writes the header
// at offset 0 last, then fsyncs and renames the file into place. Until that
// rename nothing exists at the target path, so a save that fails or is
// killed midway never leaves a file that looks complete (only its
// temporary file, named .<name>.<pid>.<hex>.tmp, which abort() removes).
import { crc32 } from "node:zlib";
import { AtomicFile } from "../format/atomic-file.js";
import { PAGE_SIZE } from "../wasm/codes.js";
import {
  DATA_OFFSET, encodeHeader, encodeIndex, encodeRuns, encodeTrailer, sectionsOf, type ActiveRuns, type SnapshotHeader, type SnapshotIndex,
} from "./format.js";

export interface FinishedFile {
  readonly fileBytes: number;
  readonly header: SnapshotHeader;
}

export class SnapshotFileWriter {
  readonly path: string;
  readonly #file: AtomicFile;
  #slots = 0;

  constructor(path: string) {
    this.path = path;
    this.#file = AtomicFile.open(path);
  }

  /** Data slots written so far. */
  get slots(): number { return this.#slots; }
  /** Bytes written so far. */
  get bytesWritten(): number { return this.#file.sizeBytes; }
  /** The temporary file (removed by abort, renamed by finish). */
  get tmpPath(): string { return this.#file.tmpPath; }

  /** Writes whole pages into the next slots; returns the first slot. */
  writePages(bytes: Uint8Array): number {
    const first = this.#slots;
    this.#file.pwrite(bytes, DATA_OFFSET + first * PAGE_SIZE);
    this.#slots += bytes.length / PAGE_SIZE;
    return first;
  }

  /**
   * Writes the metadata sections, the trailer and the header (whose
   * dataPages is the slots written), makes the file durable and puts it at
   * its path.
   */
  finish(fields: Omit<SnapshotHeader, "dataPages" | "indexEntries" | "activeRuns" | "configBytes">, index: SnapshotIndex, runs: ActiveRuns, config: Uint8Array): FinishedFile {
    const header: SnapshotHeader = Object.freeze({ ...fields, dataPages: this.#slots, indexEntries: index.pfn.length, activeRuns: runs.length, configBytes: config.length });
    const sections = sectionsOf(header);
    const metadata = new Uint8Array(sections.trailerOffset - sections.indexOffset);
    metadata.set(encodeIndex(index), 0);
    metadata.set(encodeRuns(runs), sections.activeOffset - sections.indexOffset);
    metadata.set(config, sections.configOffset - sections.indexOffset);
    this.#file.pwrite(metadata, sections.indexOffset);
    this.#file.pwrite(encodeTrailer(sections.fileBytes, crc32(metadata) >>> 0), sections.trailerOffset);
    this.#file.pwrite(encodeHeader(header), 0);
    this.#file.commit();
    return { fileBytes: sections.fileBytes, header };
  }

  /** Drops the temporary file. Idempotent. */
  abort(): void { this.#file.abort(); }
}
