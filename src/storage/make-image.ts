// A test disk image (hypermem disk make-image): a raw file of `sizeBytes`
// made of runs of 64 KiB extents, each run all data or all zeros. A run is
// 1 to 16 extents long and holds data with probability `fill`, so about
// that share of the image is data; the data is AES-128-CTR keystream keyed by
// the seed (deterministic, incompressible). Zero runs are never written: the
// file is sparse. Same size, fill and seed, same bytes.
import { createCipheriv, createHash } from "node:crypto";
import { closeSync, fsyncSync, ftruncateSync, openSync, writeSync } from "node:fs";
import { ErrorCode, HypermemError } from "../errors.js";
import { fileIoError, FILE_MODE } from "../format/atomic-file.js";
import { mulberry32 } from "../sim/prng.js";

export const EXTENT_BYTES = 64 * 1024;

export interface MakeImageResult {
  readonly path: string;
  readonly sizeBytes: number;
  /** Bytes of the data runs (the rest are zero runs, not written). */
  readonly dataBytes: number;
  readonly sha256: string;
}

/**
 * Writes the image; ERR_BAD_OPTION for a bad size, fill or seed, ERR_FILE_IO
 * when it cannot be written. `onProgress` is called after each run with the
 * bytes done.
 */
export function makeImage(path: string, sizeBytes: number, fill: number, seed: number, onProgress?: (doneBytes: number) => void): MakeImageResult {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) throw new HypermemError(ErrorCode.BadOption, `sizeBytes must be a whole number of bytes >= 0, got ${sizeBytes}`, { option: "sizeBytes", value: sizeBytes });
  if (!(fill >= 0 && fill <= 1)) throw new HypermemError(ErrorCode.BadOption, `fill must be a fraction in 0..1, got ${fill}`, { option: "fill", value: fill });
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new HypermemError(ErrorCode.BadOption, `seed must be an integer in 0..4294967295, got ${seed}`, { option: "seed", value: seed });
  const next = mulberry32(seed);
  const rng = (): number => next() / 2 ** 32;
  const key = createHash("sha256").update(`hypermem disk image ${seed}`).digest().subarray(0, 16);
  const keystream = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(EXTENT_BYTES * 16);
  const whole = createHash("sha256");
  let fd: number;
  try {
    fd = openSync(path, "w", FILE_MODE);
  } catch (err) {
    throw fileIoError(path, "create", err);
  }
  let dataBytes = 0;
  try {
    ftruncateSync(fd, sizeBytes);
    for (let at = 0; at < sizeBytes;) {
      const runBytes = Math.min(sizeBytes - at, (1 + Math.floor(rng() * 16)) * EXTENT_BYTES);
      const data = rng() < fill;
      if (data) {
        const bytes = keystream.update(zeros.subarray(0, runBytes));
        let done = 0;
        while (done < runBytes) done += writeSync(fd, bytes, done, runBytes - done, at + done);
        whole.update(bytes);
        dataBytes += runBytes;
      } else {
        whole.update(zeros.subarray(0, runBytes));
      }
      at += runBytes;
      onProgress?.(at);
    }
    fsyncSync(fd);
  } catch (err) {
    throw fileIoError(path, "write", err);
  } finally {
    closeSync(fd);
  }
  return { path, sizeBytes, dataBytes, sha256: whole.digest("hex") };
}
