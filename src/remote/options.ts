// The options of a remote-memory run (runRemoteScenario, `hypermem remote`):
// checked once, defaulted, frozen; unknown keys refused.
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, HypermemError } from "../errors.js";
import type { WorkloadSpec } from "../host/workload.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import { resolveRemoteLink, resolveStorageLink, type RemoteLinkModel, type RemoteLinkPreset, type StorageLinkModel } from "./link.js";

export interface RemoteScenarioOptions {
  /** Guest memory, MiB (1..2048: the guest and its region fit one host's 4 GiB). */
  guestMiB: number;
  /** Share of the guest's pages in the region only, not in the compute host's DRAM, 0..0.99. @default 0.5 */
  remoteFraction?: number;
  /** @default hotcold 0.1 / 0.9 */
  workload?: WorkloadSpec;
  /** Guest accesses per simulated second. @default 1_000_000 */
  ratePerSec?: number;
  /** @default 0.3 */
  writeFraction?: number;
  /** @default 64 */
  writeBytes?: number;
  /** Seeds the prefill and the workload. @default 1 */
  seed?: number;
  /** Epoch length: dirty lists are published this often (the recovery point's granularity). @default 10 ms */
  epochNs?: number;
  /** A baseline is written this often. @default 1 s */
  baselineEveryNs?: number;
  /** When the compute host fails. @default 2.5 s */
  failAtNs?: number;
  /** Fail the memory host's link too: recovery has the baseline alone. @default false */
  memoryHostUnreachable?: boolean;
  /** @default "rdma-56g" */
  link?: RemoteLinkPreset | RemoteLinkModel;
  /** Shared storage for the baseline. @default SHARED_STORAGE (1.1 GB/s, 200 µs) */
  storage?: StorageLinkModel;
  /** The baseline file. @default a file in the OS's temporary folder */
  baselinePath?: string;
  /** The memory host's capacity, MiB. @default what the region needs */
  memoryHostMiB?: number;
}

export interface ResolvedRemoteOptions {
  readonly guestMiB: number;
  readonly remoteFraction: number;
  readonly workload: Readonly<WorkloadSpec>;
  readonly ratePerSec: number;
  readonly writeFraction: number;
  readonly writeBytes: number;
  readonly seed: number;
  readonly epochNs: number;
  readonly baselineEveryNs: number;
  readonly failAtNs: number;
  readonly memoryHostUnreachable: boolean;
  readonly link: RemoteLinkModel;
  readonly storage: StorageLinkModel;
  readonly baselinePath: string;
  readonly memoryHostMiB: number | null;
}

export const REMOTE_DEFAULTS = Object.freeze({
  remoteFraction: 0.5,
  workload: Object.freeze({ kind: "hotcold", hotFraction: 0.1, hotProbability: 0.9 }) as Readonly<WorkloadSpec>,
  ratePerSec: 1_000_000,
  writeFraction: 0.3,
  writeBytes: 64,
  seed: 1,
  epochNs: 10e6,
  baselineEveryNs: 1e9,
  failAtNs: 2.5e9,
});

/** The largest guest: it, its region (twice its size) and the failover's copy fit in memory; its host fits 4 GiB. */
export const REMOTE_MAX_GUEST_MIB = 2048;

const KEYS = ["guestMiB", "remoteFraction", "workload", "ratePerSec", "writeFraction", "writeBytes", "seed", "epochNs", "baselineEveryNs", "failAtNs", "memoryHostUnreachable", "link", "storage", "baselinePath", "memoryHostMiB"];

export function resolveRemoteOptions(o: RemoteScenarioOptions): ResolvedRemoteOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `remote options must be an object, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, KEYS, "remote");
  const epochNs = requireNumber("epochNs", o.epochNs ?? REMOTE_DEFAULTS.epochNs, 1e5, 60e9);
  const baselineEveryNs = requireNumber("baselineEveryNs", o.baselineEveryNs ?? REMOTE_DEFAULTS.baselineEveryNs, epochNs, 3600e9);
  const baselinePath = o.baselinePath ?? join(tmpdir(), `hypermem-remote-${process.pid}-${Date.now()}.baseline`);
  if (typeof baselinePath !== "string" || baselinePath === "") throw new HypermemError(ErrorCode.BadOption, `baselinePath must be a file path, got ${JSON.stringify(baselinePath)}`, { option: "baselinePath", value: baselinePath });
  return Object.freeze({
    guestMiB: requireInt("guestMiB", o.guestMiB, 1, REMOTE_MAX_GUEST_MIB),
    remoteFraction: requireNumber("remoteFraction", o.remoteFraction ?? REMOTE_DEFAULTS.remoteFraction, 0, 0.99),
    workload: Object.freeze({ ...(o.workload ?? REMOTE_DEFAULTS.workload) }),
    ratePerSec: requireInt("ratePerSec", o.ratePerSec ?? REMOTE_DEFAULTS.ratePerSec, 1, 2 ** 32 - 1),
    writeFraction: requireNumber("writeFraction", o.writeFraction ?? REMOTE_DEFAULTS.writeFraction, 0, 1),
    writeBytes: requireInt("writeBytes", o.writeBytes ?? REMOTE_DEFAULTS.writeBytes, 8, 4096),
    seed: requireInt("seed", o.seed ?? REMOTE_DEFAULTS.seed, 0, 2 ** 32 - 1),
    epochNs,
    baselineEveryNs,
    failAtNs: requireNumber("failAtNs", o.failAtNs ?? REMOTE_DEFAULTS.failAtNs, 0, 3600e9),
    memoryHostUnreachable: o.memoryHostUnreachable ?? false,
    link: resolveRemoteLink(o.link),
    storage: resolveStorageLink(o.storage),
    baselinePath,
    memoryHostMiB: o.memoryHostMiB === undefined ? null : requireInt("memoryHostMiB", o.memoryHostMiB, 1, 2 ** 20),
  });
}
