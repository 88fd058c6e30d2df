// From the values of `hypermem migrate`'s flags to a plan: the library's
// scenario and migration options, and the TCP target. Every rule that needs
// several values is checked here, before any work: flags a trace replay
// ignores, the workload range inside the guest, injected errors inside the
// prefill, the trace's records against the guest, and whether the guest fits
// its hosts (fit.ts; the refusal prints the arithmetic and a fix).
import type { MigrationOptions } from "../migration/options.js";
import type { ScenarioOptions } from "../migration/scenario.js";
import { defaultHostMiB, hostFrames, largestNeed, largestThatFits, needLines, smallestHostMiB, type GuestFootprint } from "./fit.js";
import { MIGRATE_OPTIONS } from "./migrate-options.js";
import { optionError } from "./option-error.js";
import type { Values } from "./registry.js";
import { readTokenFile } from "./token-file.js";
import { formatCount, PAGE_BYTES, spellSize } from "./units.js";
import { verifyTrace } from "./workload-option.js";

export interface TcpPlan {
  readonly host: string;
  readonly port: number;
  readonly token: Uint8Array;
  /** Encrypt the records (false: --no-encryption, integrity only). */
  readonly encryption: boolean;
  readonly idleTimeoutMs: number;
  /** Said on stderr before connecting (a token file others may read). */
  readonly warnings: readonly string[];
}

export interface MigratePlan {
  readonly scenario: ScenarioOptions;
  readonly migration: MigrationOptions;
  readonly json: boolean;
  /** Migrate over TCP to this destination (--to), or in-process. */
  readonly to: TcpPlan | null;
}

type MigrateValues = Values<typeof MIGRATE_OPTIONS>;
type Given = ReadonlyMap<string, string>;

/** The text of a flag as the user gave it, or its default. */
const typed = (given: Given, name: keyof typeof MIGRATE_OPTIONS): string => given.get(name) ?? MIGRATE_OPTIONS[name].default ?? "";

function refuseTraceOnlyFlags(v: MigrateValues, given: Given): void {
  if (v.workload.spec.kind !== "trace") return;
  for (const name of ["write-fraction", "write-size", "workload-pages"] as const) {
    const text = given.get(name);
    if (text !== undefined) throw optionError(`--${name}`, text, `does not apply to --workload ${v.workload.text} (a trace replays its recorded accesses)`);
  }
}

function workloadPages(v: MigrateValues, given: Given, guestPages: number): number {
  const trace = v.workload.trace;
  const pages = v["workload-pages"] ?? (trace ? Math.min(trace.guestPages, guestPages) : guestPages);
  if (pages > guestPages) {
    throw optionError("--workload-pages", given.get("workload-pages")!, `at most the guest's ${formatCount(guestPages)} pages (--guest ${typed(given, "guest")})`);
  }
  return pages;
}

function checkErrorCounts(v: MigrateValues, given: Given, prefilledPages: number): void {
  const where = `the ${formatCount(prefilledPages)} pages the prefill writes (--prefill ${typed(given, "prefill")} of ${formatCount(v.guest / PAGE_BYTES)} pages)`;
  if (v["inject-errors"] > prefilledPages) throw optionError("--inject-errors", given.get("inject-errors")!, `at most ${formatCount(prefilledPages)}: errors go into ${where}`);
  const room = prefilledPages - v["inject-errors"];
  if (v["latent-errors"] > room) {
    throw optionError("--latent-errors", given.get("latent-errors")!, `at most ${formatCount(room)}: errors go into ${where}, ${formatCount(v["inject-errors"])} of them taken by --inject-errors`);
  }
}

/** The fixes for a guest that does not fit hosts of `frames`: a bigger host, a narrower workload (and prefill), a smaller guest. */
function fixes(v: MigrateValues, g: GuestFootprint, frames: number, inProcess: boolean, smallestMiB: number | null): string[] {
  const out: string[] = [];
  if (smallestMiB !== null) out.push(`--host-memory ${spellSize(smallestMiB * 2 ** 20)}`);
  if (v.workload.spec.kind !== "trace") {
    // The workload and the prefill both start at page 0: narrow both to the largest range that fits.
    const range = largestThatFits(g.guestPages, frames, inProcess, (n) => ({ ...g, workloadPages: n, prefilledPages: Math.min(g.prefilledPages, n) }));
    const shown = range >= 256 ? Math.floor(range / 256) * 256 : range;
    if (range >= 1 && shown < g.prefilledPages) {
      const prefill = Math.floor(shown / g.guestPages * 1e4) / 1e4;
      if (prefill > 0) out.push(`--prefill ${prefill} --workload-pages ${spellSize(shown * PAGE_BYTES)} (the guest writes only its first ${spellSize(shown * PAGE_BYTES)})`);
    } else if (range >= 1 && shown < g.workloadPages) {
      out.push(`--workload-pages ${spellSize(shown * PAGE_BYTES)} (the workload stays in the first ${spellSize(shown * PAGE_BYTES)} of the guest)`);
    }
  }
  out.push("a smaller --guest");
  return out;
}

function checkFit(v: MigrateValues, given: Given, g: GuestFootprint, hostMiB: number, inProcess: boolean): void {
  const frames = hostFrames(hostMiB);
  const need = largestNeed(g, inProcess);
  if (need.totalFrames <= frames) return;
  const smallest = smallestHostMiB(need);
  const blameHost = given.has("host-memory") && smallest !== null;
  const [flag, text] = blameHost ? ["--host-memory", given.get("host-memory")!] : ["--guest", typed(given, "guest")];
  const why = blameHost ? "too small for this guest" : `this guest can outgrow a ${spellSize(hostMiB * 2 ** 20)} host`;
  const lines = needLines(need, hostMiB, frames, v.workload.text, g).map((l) => `  ${l}`);
  throw optionError(flag, text, [why, ...lines, `  fix: ${fixes(v, g, frames, inProcess, smallest).join("; or ")}`].join("\n"), {
    hostMiB, hostFrames: frames, needFrames: need.totalFrames, side: need.side, writtenPages: need.writtenPages,
  });
}

/** Checks every rule of `hypermem migrate` that spans flags and builds the plan. */
export async function planMigration(v: MigrateValues, given: Given): Promise<MigratePlan> {
  const guestPages = v.guest / PAGE_BYTES;
  refuseTraceOnlyFlags(v, given);
  verifyTrace("--workload", v.workload, guestPages);
  const prefilledPages = Math.round(v.prefill * guestPages);
  checkErrorCounts(v, given, prefilledPages);
  const xbzrleCacheBytes = v.xbzrle || given.has("xbzrle-cache") ? v["xbzrle-cache"] : 0;
  const footprint: GuestFootprint = {
    guestPages, prefilledPages, xbzrleCacheBytes,
    workloadPages: workloadPages(v, given, guestPages),
    workloadWrites: v.workload.spec.kind === "trace" || v["write-fraction"] > 0,
  };
  const hostMiB = v["host-memory"] === undefined ? defaultHostMiB(footprint) : v["host-memory"] / 2 ** 20;
  checkFit(v, given, footprint, hostMiB, v.to === undefined);
  const isTrace = v.workload.spec.kind === "trace";
  // The page range rides along with the spec: buildScenario hands the spec's fields to startWorkload.
  const ranged = { ...v.workload.spec, pageCount: footprint.workloadPages };
  const scenario: ScenarioOptions = {
    guestMiB: guestPages / 256,
    hostMiB,
    prefill: v.prefill,
    workload: isTrace || v["workload-pages"] === undefined ? v.workload.spec : ranged,
    ratePerSec: v.rate,
    writeFraction: isTrace ? undefined : v["write-fraction"],
    writeBytes: isTrace ? undefined : v["write-size"],
    seed: v.seed,
    injectErrors: v["inject-errors"],
    latentErrors: v["latent-errors"],
  };
  const migration: MigrationOptions = {
    ...(v.to === undefined ? { bandwidthBytesPerSec: v.bandwidth, latencyNs: v.latency } : {}),
    downtimeLimitNs: v["downtime-limit"],
    maxBandwidthBytesPerSec: v["max-bandwidth"] ?? null,
    policy: v.policy,
    xbzrleCacheBytes: xbzrleCacheBytes > 0 ? xbzrleCacheBytes : false,
    autoConverge: v["auto-converge"],
    maxRounds: v["max-rounds"] ?? null,
    maxTotalTimeNs: v["max-time"] ?? null,
  };
  // The rules make --to need --token-file, so it is there.
  const tokenFile = v.to === undefined ? null : await readTokenFile(v["token-file"]!);
  const to = v.to === undefined || tokenFile === null ? null : Object.freeze({
    ...v.to,
    token: tokenFile.token,
    encryption: !v["no-encryption"],
    idleTimeoutMs: v["idle-timeout"] / 1e6,
    warnings: tokenFile.warnings,
  });
  return Object.freeze({ scenario: Object.freeze(scenario), migration: Object.freeze(migration), json: v.json, to });
}
