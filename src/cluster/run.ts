// One call for a whole run: a cluster of `hosts`, a scenario (the pods of
// manifests at time 0 and timed events), the figures at the end; and the same
// input through both flows, side by side.
import { Cluster } from "./cluster.js";
import { clusterReport, type ClusterReport } from "./figures.js";
import type { ClusterHost } from "./hosts.js";
import type { ClusterOptions } from "./options.js";
import { runClusterScenario, type ClusterScenario } from "./scenario.js";

/** Runs `scenario` on a cluster of `hosts`; returns the figures (the real Vms of materialize are destroyed after). */
export function runCluster(hosts: readonly ClusterHost[], scenario: ClusterScenario, options: ClusterOptions = {}): ClusterReport {
  const cluster = new Cluster(hosts, options);
  try {
    runClusterScenario(cluster, scenario);
    return clusterReport(cluster);
  } finally {
    cluster.close();
  }
}

/** The same hosts and scenario through the unified flow and through the two independent schedulers. */
export function compareSchedulers(
  hosts: readonly ClusterHost[], scenario: ClusterScenario, options: Omit<ClusterOptions, "mode"> = {},
): { readonly unified: ClusterReport; readonly independent: ClusterReport } {
  return {
    unified: runCluster(hosts, scenario, { ...options, mode: "unified" }),
    independent: runCluster(hosts, scenario, { ...options, mode: "independent" }),
  };
}
