// What a name in a delete stands for: one pod ("namespace/name", or "name" in
// namespace default), otherwise every replica of the Deployment of that name.
import type { Pod } from "./pod.js";

/** The pods among `live` (keyed by "namespace/name") that `name` stands for; empty when none. */
export function podsNamed(name: string, live: ReadonlyMap<string, Pod>): Pod[] {
  const key = name.includes("/") ? name : `default/${name}`;
  const pod = live.get(key);
  if (pod) return [pod];
  const owner = `Deployment ${key}`;
  return [...live.values()].filter((p) => p.owner === owner);
}
