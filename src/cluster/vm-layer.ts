// The VM layer: creates and deletes podVMs on hosts. Its admission control is
// the ledger's (reservations against capacity and headroom); with
// materialize, each podVM is also a real Vm on a real Host. Both flows bind
// through it: the unified flow on the host its VM scheduler selected, the
// baseline on whatever node Kubernetes chose, where it may refuse.
import type { Status } from "./framework.js";
import type { HostLedger } from "./host-ledger.js";
import type { Materializer } from "./materialize.js";
import type { Pod } from "./pod.js";
import { podVmSize, type PodVmSize, type SizingDefaults } from "./podvm.js";

export class VmLayer {
  readonly ledger: HostLedger;
  readonly materializer: Materializer | null;
  readonly #defaults: SizingDefaults;
  readonly #sizes = new WeakMap<Pod["template"], PodVmSize>();
  /** Wall time spent making podVMs real (materialize), ms: the cluster keeps it out of scheduling latency. */
  materializeWallMs = 0;

  constructor(ledger: HostLedger, defaults: SizingDefaults, materializer: Materializer | null) {
    this.ledger = ledger;
    this.#defaults = defaults;
    this.materializer = materializer;
  }

  /** The podVM size of `pod` (cached per template). */
  size(pod: Pod): PodVmSize {
    let s = this.#sizes.get(pod.template);
    if (s === undefined) this.#sizes.set(pod.template, (s = podVmSize(pod.template, this.#defaults)));
    return s;
  }

  /** Creates `pod`'s podVM on `host` and starts its containers; or says why admission control refuses. */
  create(pod: Pod, host: number): Status {
    const size = this.size(pod);
    const refusal = this.ledger.refusal(host, size);
    if (refusal !== null) return `VM layer refused the podVM: ${this.ledger.explain(host, size, refusal)}`;
    this.ledger.reserve(host, pod, size);
    if (this.materializer !== null) {
      const started = performance.now();
      this.materializer.start(pod, host, size);
      this.materializeWallMs += performance.now() - started;
    }
    return null;
  }

  /** Deletes `pod`'s podVM; returns its host, or -1 when it had none. */
  delete(pod: Pod): number {
    this.materializer?.stop(pod);
    return this.ledger.release(pod);
  }
}
