// Topology domains: for a node label key (kubernetes.io/hostname,
// topology.kubernetes.io/zone...), the hosts that share a value form one
// domain. Affinity terms count pods per domain; a host is looked up as
// domainOf[key][host], -1 when the host lacks the label. Built lazily per key,
// once, over the fixed list of hosts.
import type { ClusterHost } from "./hosts.js";

export interface Domains {
  /** Domain index of each host, -1 when the host has no such label. */
  readonly ofHost: Int32Array;
  /** Number of domains (distinct values). */
  readonly count: number;
}

export class Topology {
  readonly hosts: readonly ClusterHost[];
  readonly #byKey = new Map<string, Domains>();

  constructor(hosts: readonly ClusterHost[]) {
    this.hosts = hosts;
  }

  /** The domains of label `key`. */
  domains(key: string): Domains {
    let d = this.#byKey.get(key);
    if (d === undefined) {
      const ids = new Map<string, number>();
      const ofHost = new Int32Array(this.hosts.length);
      this.hosts.forEach((h, i) => {
        const value = h.labels[key];
        if (value === undefined) {
          ofHost[i] = -1;
          return;
        }
        let id = ids.get(value);
        if (id === undefined) ids.set(value, (id = ids.size));
        ofHost[i] = id;
      });
      d = Object.freeze({ ofHost, count: ids.size });
      this.#byKey.set(key, d);
    }
    return d;
  }
}
