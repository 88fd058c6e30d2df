// Memory-error recovery options with their reference defaults, resolved once
// into a frozen object: the policy (Linux's, or the seed's parity groups),
// the parity group size and how a written page rejoins its group, the patrol
// scrubber's rate, and the corrected-error threshold that retires a frame
// (mcelog's memory-ce-threshold "10 / 24h"; rasdaemon's PAGE_CE_THRESHOLD is
// 50 per PAGE_CE_REFRESH_CYCLE 24h).
import { ErrorCode, HypermemError } from "../errors.js";
import type { Vm } from "../host/vm.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";

/**
 * "linux": refill clean file pages from their file, as mm/memory-failure.c
 * does (me_pagecache_clean); every other page hit gets a machine check.
 * "parity": the seed (T13): refill clean file pages, and rebuild any other
 * page of a parity group whose other members are sound.
 */
export type RasPolicy = "linux" | "parity";

export interface RasOptions {
  /** @default "parity" */
  policy?: RasPolicy;
  /** Guest pages per parity group (k); one parity frame per group, so 1/k more memory. @default 8 */
  groupSizePages?: number;
  /**
   * A page written since it joined its group left it (its bytes XORed out of
   * the parity on the write fault); it rejoins once it has not been written
   * for this long. 0: at the next maintenance. @default 50 ms
   */
  rejoinAfterNs?: number;
  /** How often parity maintenance runs (rejoins, new pages into groups). @default 10 ms */
  maintainIntervalNs?: number;
  /** Patrol scrubber: guest pages read per second to find latent errors; 0 turns it off. @default 0 */
  scrubPagesPerSec?: number;
  /** Corrected errors on one frame, within ceWindowNs, that retire it (soft offline). @default 10 (mcelog) */
  ceThreshold?: number;
  /** The window corrected errors are counted in. @default 24 h (mcelog, rasdaemon) */
  ceWindowNs?: number;
  /** Retired frames above 90 % of this give a warning (amdgpu's bad_page_threshold). @default none */
  retiredLimit?: number | null;
  /** The guests to protect. @default every VM of the host when recovery is enabled */
  vms?: readonly Vm[];
}

export interface ResolvedRasOptions {
  readonly policy: RasPolicy;
  readonly groupSizePages: number;
  readonly rejoinAfterNs: number;
  readonly maintainIntervalNs: number;
  readonly scrubPagesPerSec: number;
  readonly ceThreshold: number;
  readonly ceWindowNs: number;
  readonly retiredLimit: number | null;
  readonly vms: readonly Vm[] | null;
}

export const RAS_DEFAULTS = Object.freeze({
  policy: "parity" as RasPolicy,
  groupSizePages: 8,
  rejoinAfterNs: 50e6,
  maintainIntervalNs: 10e6,
  scrubPagesPerSec: 0,
  ceThreshold: 10,
  ceWindowNs: 24 * 3600e9,
});

/** The largest parity group: 64 pages (the XOR kernel takes any k; beyond this a group protects too little). */
export const MAX_GROUP_PAGES = 64;

const KNOWN = ["policy", "groupSizePages", "rejoinAfterNs", "maintainIntervalNs", "scrubPagesPerSec", "ceThreshold", "ceWindowNs", "retiredLimit", "vms"];

export function resolveRasOptions(o: RasOptions = {}): ResolvedRasOptions {
  if (typeof o !== "object" || o === null) {
    throw new HypermemError(ErrorCode.BadOption, `enableRas: options must be an object, got ${String(o)}`, { option: "options" });
  }
  rejectUnknown(o, KNOWN, "enableRas");
  const policy = o.policy ?? RAS_DEFAULTS.policy;
  if (policy !== "linux" && policy !== "parity") {
    throw new HypermemError(ErrorCode.BadOption, `policy must be "linux" or "parity", got ${JSON.stringify(policy)}`, { option: "policy", value: policy });
  }
  if (o.vms !== undefined && !Array.isArray(o.vms)) {
    throw new HypermemError(ErrorCode.BadOption, `vms must be an array of VMs, got ${String(o.vms)}`, { option: "vms" });
  }
  return Object.freeze({
    policy,
    groupSizePages: requireInt("groupSizePages", o.groupSizePages ?? RAS_DEFAULTS.groupSizePages, 2, MAX_GROUP_PAGES),
    rejoinAfterNs: requireNumber("rejoinAfterNs", o.rejoinAfterNs ?? RAS_DEFAULTS.rejoinAfterNs, 0, Number.MAX_SAFE_INTEGER),
    maintainIntervalNs: requireNumber("maintainIntervalNs", o.maintainIntervalNs ?? RAS_DEFAULTS.maintainIntervalNs, 1e3, Number.MAX_SAFE_INTEGER),
    scrubPagesPerSec: requireNumber("scrubPagesPerSec", o.scrubPagesPerSec ?? RAS_DEFAULTS.scrubPagesPerSec, 0, 1e12),
    ceThreshold: requireInt("ceThreshold", o.ceThreshold ?? RAS_DEFAULTS.ceThreshold, 1, 0xffffffff),
    ceWindowNs: requireNumber("ceWindowNs", o.ceWindowNs ?? RAS_DEFAULTS.ceWindowNs, 1, Number.MAX_SAFE_INTEGER),
    retiredLimit: o.retiredLimit === undefined || o.retiredLimit === null ? null : requireInt("retiredLimit", o.retiredLimit, 1, 0xffffffff),
    vms: o.vms === undefined ? null : Object.freeze([...o.vms]),
  });
}
