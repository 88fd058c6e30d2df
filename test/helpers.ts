// Small helpers shared by test files.
import { HypermemError } from "../src/errors.js";

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
