// The figures of a recovery run, named as Linux and the seed name them:
// errors by kind, pages recovered by refill and by parity, machine checks
// delivered and pages lost, Linux's results (Recovered, Failed, Ignored,
// Delayed) and page types, how errors were found (and how long latent ones
// waited for the scrubber), what parity costs (frames, write faults, update
// and rebuild time) and the retired frames with the limit's warning.
import type { RetiredFrames } from "../host/retired-frames.js";
import type { CorrectableErrors } from "./correctable.js";
import { linuxResult, type DetectedBy, type ErrorLog, type PageType } from "./error-log.js";
import type { RasPolicy } from "./options.js";
import type { ParityGroups, ParityStats } from "./parity-groups.js";
import { retirementWarning } from "./retirement.js";
import type { PatrolScrubber, ScrubStats } from "./scrubber.js";

export interface PageTypeCounts {
  readonly errors: number;
  readonly recovered: number;
  readonly lost: number;
}

export interface ParityFigures extends ParityStats {
  /** Members of all groups (covered or open). */
  readonly memberPages: number;
  /** Parity frames per member page: 1/k when every group is full. */
  readonly overheadFraction: number;
  /** Write-protect faults due to parity per simulated second. */
  readonly writeFaultsPerSec: number;
  readonly rebuilds: number;
  /** Mean wall time of one rebuild (XOR of the parity and k - 1 survivors), ns; null without rebuilds. */
  readonly meanRebuildWallNs: number | null;
}

export interface RasReport {
  readonly policy: RasPolicy;
  /** Simulated time since recovery was enabled, ns. */
  readonly elapsedNs: number;
  readonly errors: { readonly uncorrectable: number; readonly known: number; readonly latent: number; readonly correctable: number };
  readonly recoveredByRefill: number;
  readonly recoveredByParity: number;
  /** Virtual machine checks delivered to the guests (one per access to a lost page). */
  readonly machineChecks: number;
  /** Guest pages whose bytes are gone. */
  readonly pagesLost: number;
  /** Linux's memory_failure results. */
  readonly linux: { readonly Recovered: number; readonly Failed: number; readonly Ignored: number; readonly Delayed: number };
  /** Latent errors nothing has read yet. */
  readonly undetectedLatent: number;
  readonly pageTypes: Readonly<Record<PageType, PageTypeCounts>>;
  readonly detection: Readonly<Record<DetectedBy, number>> & {
    /** Mean time from a latent error to the scrubber finding it, ns; null when it found none. */
    readonly meanScrubLatencyNs: number | null;
  };
  readonly parity: ParityFigures | null;
  readonly scrubber: ScrubStats | null;
  readonly correctable: { readonly threshold: number; readonly windowNs: number; readonly framesRetired: number; readonly framesWatched: number };
  readonly retired: {
    /** Frames this host knows retired (its store's included). */
    readonly frames: number;
    readonly uncorrectable: number;
    readonly correctable: number;
    readonly store: string | null;
    readonly limit: number | null;
    readonly warning: string | null;
  };
}

export interface ReportInputs {
  readonly policy: RasPolicy;
  readonly log: ErrorLog;
  readonly parity: ParityGroups | null;
  readonly scrubber: PatrolScrubber | null;
  readonly correctable: CorrectableErrors;
  readonly ceRetired: number;
  readonly retired: RetiredFrames;
  readonly retiredLimit: number | null;
  readonly rebuildWallNs: readonly number[];
  readonly elapsedNs: number;
  readonly machineChecks: number;
}

const mean = (xs: readonly number[]): number | null => (xs.length === 0 ? null : xs.reduce((a, b) => a + b, 0) / xs.length);

export function buildReport(r: ReportInputs): RasReport {
  const entries = r.log.entries();
  const linux = { Recovered: 0, Failed: 0, Ignored: r.log.ignored, Delayed: 0 };
  const pageTypes: Record<PageType, { errors: number; recovered: number; lost: number }> = {
    cleanFile: { errors: 0, recovered: 0, lost: 0 }, dirtyFile: { errors: 0, recovered: 0, lost: 0 }, anonymous: { errors: 0, recovered: 0, lost: 0 },
  };
  const detection = { report: 0, guest: 0, hypervisor: 0, scrubber: 0, rebuild: 0 };
  const scrubWaitNs: number[] = [];
  let undetected = 0;
  for (const e of entries) {
    const t = pageTypes[e.pageType];
    t.errors++;
    const result = linuxResult(e);
    if (result === null) undetected++;
    else linux[result]++;
    if (result === "Recovered") t.recovered++;
    if (e.outcome === "lost") t.lost++;
    if (e.detectedBy !== null) detection[e.detectedBy]++;
    if (e.detectedBy === "scrubber" && e.detectedNs !== null) scrubWaitNs.push(e.detectedNs - e.atNs);
  }
  const seconds = r.elapsedNs / 1e9;
  let parity: ParityFigures | null = null;
  if (r.parity !== null) {
    const s = r.parity.stats();
    const memberPages = s.coveredPages + s.openPages;
    parity = {
      ...s,
      memberPages,
      overheadFraction: memberPages === 0 ? 0 : s.parityFrames / memberPages,
      writeFaultsPerSec: seconds > 0 ? s.writeFaults / seconds : 0,
      rebuilds: r.rebuildWallNs.length,
      meanRebuildWallNs: mean(r.rebuildWallNs),
    };
  }
  const retired = r.retired.list();
  return {
    policy: r.policy,
    elapsedNs: r.elapsedNs,
    errors: {
      uncorrectable: entries.length,
      known: entries.filter((e) => !e.latent).length,
      latent: entries.filter((e) => e.latent).length,
      correctable: r.correctable.errors,
    },
    recoveredByRefill: entries.filter((e) => e.outcome === "refill").length,
    recoveredByParity: entries.filter((e) => e.outcome === "parity").length,
    machineChecks: r.machineChecks,
    pagesLost: entries.filter((e) => e.outcome === "lost").length,
    linux,
    undetectedLatent: undetected,
    pageTypes,
    detection: { ...detection, meanScrubLatencyNs: mean(scrubWaitNs) },
    parity,
    scrubber: r.scrubber?.stats() ?? null,
    correctable: { threshold: r.correctable.threshold, windowNs: r.correctable.windowNs, framesRetired: r.ceRetired, framesWatched: r.correctable.framesWatched },
    retired: {
      frames: retired.length,
      uncorrectable: retired.filter((f) => f.cause === "uncorrectable").length,
      correctable: retired.filter((f) => f.cause === "correctable").length,
      store: r.retired.store?.path ?? null,
      limit: r.retiredLimit,
      warning: retirementWarning(retired.length, r.retiredLimit),
    },
  };
}
