// Small helpers shared by test files.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { HypermemError } from "../src/errors.js";
import { mulberry32 } from "../src/sim/prng.js";

/** The HypermemError code `fn` throws, or "none"; any other exception is rethrown. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof HypermemError) return err.code;
    throw err;
  }
  return "none";
}

/** The HypermemError `fn` throws; anything else it throws is rethrown, and throwing nothing fails the test. */
export function thrownHypermemError(fn: () => unknown): HypermemError {
  try {
    fn();
  } catch (err) {
    if (err instanceof HypermemError) return err;
    throw err;
  }
  throw new Error("expected a HypermemError, nothing was thrown");
}

/** A file of `pages` 4 KiB pages of seeded bytes, written as `name` in `dir`: its path and bytes. */
export function seededFile(dir: string, name: string, pages: number, seed: number): { path: string; bytes: Uint8Array } {
  const rng = mulberry32(seed);
  const bytes = new Uint8Array(pages * 4096).map(() => rng() & 0xff);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return { path, bytes };
}

/** The code, message and details `fn` throws as a HypermemError (anything else is rethrown), or "none". */
export function thrownError(fn: () => unknown): { code: string; message: string; details: unknown } | "none" {
  try {
    fn();
  } catch (err) {
    if (err instanceof HypermemError) return { code: err.code, message: err.message, details: err.details };
    throw err;
  }
  return "none";
}

/**
 * Limits every migration in a test carries (spread first, so a test's own
 * win): a policy bug that keeps a migration from converging then ends it,
 * cancelled, in bounded time, and the test fails instead of hanging.
 */
export const TEST_LIMITS = Object.freeze({ maxRounds: 100, maxTotalTimeNs: 30e9 });
