// Options of a cluster run, resolved once into a frozen object; unknown keys
// and bad values are typed errors naming the option and the value.
import { ErrorCode, HypermemError } from "../errors.js";
import { rejectUnknown, requireInt, requireNumber } from "../options.js";
import type { ClusterMode } from "./flows.js";
import { KATA_DEFAULTS, type SizingDefaults } from "./podvm.js";

/** One thing that happened, as it happens. */
export interface ClusterEvent {
  /** Simulated time of the event (the scenario's clock), ns. */
  readonly atNs: number;
  readonly mode: ClusterMode;
  readonly kind: "placed" | "refused" | "bind-failed" | "deleted";
  /** "namespace/name". */
  readonly pod: string;
  /** The host placed on, the node a failed bind aimed at, or the host a deleted pod left; null otherwise. */
  readonly host: string | null;
  /** Why a pod was refused or its bind failed; null otherwise. */
  readonly reason: string | null;
}

export interface ClusterOptions {
  /** The two-level flow of the seed, or the two independent schedulers. @default "unified" */
  mode?: ClusterMode;
  /** Fraction of each host's memory and CPU the VM layer keeps unreserved (HA admission control), 0..0.9. @default 0 */
  headroom?: number;
  /** Seed of the container scheduler's tie-breaks between equally scored nodes. @default 1 */
  seed?: number;
  /** kube-scheduler's percentageOfNodesToScore: 0 for its adaptive default, or 1..100. @default 0 */
  percentageOfNodesToScore?: number;
  /** Memory of a podVM whose containers state none, bytes. @default 2 GiB (Kata's default_memory) */
  defaultPodVmMemoryBytes?: number;
  /** Millicores of a podVM whose containers state no CPU. @default 1000 (Kata's default_vcpus = 1) */
  defaultPodVmMilliCpu?: number;
  /** Make the podVMs real Vms on real Hosts (a small cluster: materialize.ts). @default false */
  materialize?: boolean;
  /** Called for each placement, refusal, failed bind and deletion, as it happens. */
  onEvent?: (event: ClusterEvent) => void;
}

export interface ResolvedClusterOptions {
  readonly mode: ClusterMode;
  readonly headroom: number;
  readonly seed: number;
  readonly percentageOfNodesToScore: number;
  readonly sizing: SizingDefaults;
  readonly materialize: boolean;
  readonly onEvent: ((event: ClusterEvent) => void) | null;
}

const KEYS = ["mode", "headroom", "seed", "percentageOfNodesToScore", "defaultPodVmMemoryBytes", "defaultPodVmMilliCpu", "materialize", "onEvent"];

export function resolveClusterOptions(o: ClusterOptions = {}): ResolvedClusterOptions {
  if (typeof o !== "object" || o === null) throw new HypermemError(ErrorCode.BadOption, `cluster options must be an object, got ${String(o)}`, { option: "options" });
  rejectUnknown(o, KEYS, "Cluster");
  const mode = o.mode ?? "unified";
  if (mode !== "unified" && mode !== "independent") {
    throw new HypermemError(ErrorCode.BadOption, `mode must be "unified" or "independent", got ${JSON.stringify(mode)}`, { option: "mode", value: mode });
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== "function") {
    throw new HypermemError(ErrorCode.BadOption, `onEvent must be a function, got ${typeof o.onEvent}`, { option: "onEvent" });
  }
  if (o.materialize !== undefined && typeof o.materialize !== "boolean") {
    throw new HypermemError(ErrorCode.BadOption, `materialize must be true or false, got ${String(o.materialize)}`, { option: "materialize", value: o.materialize });
  }
  return Object.freeze({
    mode,
    headroom: requireNumber("headroom", o.headroom ?? 0, 0, 0.9),
    seed: requireInt("seed", o.seed ?? 1, 0, 2 ** 32 - 1),
    percentageOfNodesToScore: requireInt("percentageOfNodesToScore", o.percentageOfNodesToScore ?? 0, 0, 100),
    sizing: Object.freeze({
      memoryBytes: requireInt("defaultPodVmMemoryBytes", o.defaultPodVmMemoryBytes ?? KATA_DEFAULTS.memoryBytes, 1, Number.MAX_SAFE_INTEGER),
      milliCpu: requireInt("defaultPodVmMilliCpu", o.defaultPodVmMilliCpu ?? KATA_DEFAULTS.milliCpu, 1, Number.MAX_SAFE_INTEGER),
    }),
    materialize: o.materialize ?? false,
    onEvent: o.onEvent ?? null,
  });
}
