// Small helpers shared by test files.
import { HypermemError } from "../src/index.js";

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
