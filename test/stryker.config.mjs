// StrykerJS mutation testing, run by hand (not in CI: too slow for 2 cores):
//
//   npm run mutate -- src/migration/policy.ts
//   npm run mutate -- src/migration/verify.ts,src/migration/receiver.ts
//
// Stryker changes one expression of the named modules at a time (a mutant)
// and runs the tests that cover it (coverage analysis per test, so only
// those); a mutant no test notices "survives" and names a missing test.
// Nothing is mutated unless modules are named (`mutate` is empty here, the
// script's --mutate fills it). docs/contributing.md says when to run it.
// Working copies go to /tmp, so the worktree stays clean.

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.config.ts" },
  coverageAnalysis: "perTest",
  // assembly/ is AssemblyScript (decorators Babel cannot parse): leave it untouched.
  disableTypeChecks: "{src,test,bench}/**/*.{ts,mts,js,mjs}",
  mutate: [],
  reporters: ["clear-text", "progress"],
  tempDirName: "/tmp/hypermem-stryker",
  cleanTempDir: true,
  concurrency: 1,
  // A mutant that makes a test spin without yielding is killed by this timeout.
  timeoutMS: 20_000,
  thresholds: { high: 90, low: 80, break: null },
};
