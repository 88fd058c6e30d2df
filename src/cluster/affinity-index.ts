// Inter-pod affinity and anti-affinity (required terms), with the meaning of
// kube-scheduler's InterPodAffinity filter, kept incrementally so a check is
// O(terms) per host instead of a scan of every placed pod:
//
//   affinity      a host passes when, for every term, its domain (the host's
//                 value of the term's topologyKey) holds a pod matching ALL the
//                 pod's affinity terms; a host without the label fails. The
//                 first pod of a series passes anywhere labelled when no pod
//                 matches yet and the pod matches its own terms.
//   anti-affinity a host fails when its domain holds a pod matching one of the
//                 pod's anti-affinity terms;
//   symmetric     a host fails when its domain (by that term's key) holds a pod
//                 whose own anti-affinity term matches the incoming pod.
//
// Counts per domain are kept for every term seen (registered on first use by a
// scan of the pods placed so far), updated as pods are placed and removed.
// A term matches a pod when the pod is in one of the term's namespaces and its
// labels satisfy the term's selector; results are cached per template (the
// replicas of a Deployment share labels and namespace).
import { selectorMatches } from "./labels.js";
import type { Pod, PodAffinityTerm, PodTemplate } from "./pod.js";
import type { Topology } from "./topology.js";

/** 0: the host passes; otherwise which rule it fails. */
export const AffinityVerdict = { Ok: 0, Affinity: 1, AntiAffinity: 2, ExistingAntiAffinity: 3 } as const;
export type AffinityVerdict = (typeof AffinityVerdict)[keyof typeof AffinityVerdict];

/** kube-scheduler's messages for the three failures. */
export const AFFINITY_MESSAGES: Readonly<Record<Exclude<AffinityVerdict, 0>, string>> = {
  1: "node(s) didn't match pod affinity rules",
  2: "node(s) didn't match pod anti-affinity rules",
  3: "node(s) didn't satisfy existing pods anti-affinity rules",
};

/** The check of one incoming pod against every host. */
export interface PodAffinityCheck {
  check(host: number): AffinityVerdict;
}

/** A term and its cached matches per template. */
class Term {
  readonly term: PodAffinityTerm;
  readonly #matches = new WeakMap<PodTemplate, boolean>();

  constructor(term: PodAffinityTerm) {
    this.term = term;
  }

  matches(t: PodTemplate): boolean {
    let m = this.#matches.get(t);
    if (m === undefined) {
      m = (this.term.namespaces === null || this.term.namespaces.includes(t.namespace)) && selectorMatches(this.term.selector, t.labels);
      this.#matches.set(t, m);
    }
    return m;
  }
}

/** Pods per domain of a term's topology key. */
class Counted {
  readonly term: Term;
  readonly ofHost: Int32Array;
  readonly counts: Int32Array;
  /** Sum of the counts (increments that landed on a labelled host). */
  total = 0;

  constructor(term: Term, topology: Topology) {
    this.term = term;
    const d = topology.domains(term.term.topologyKey);
    this.ofHost = d.ofHost;
    this.counts = new Int32Array(d.count);
  }

  add(host: number, delta: number): void {
    const d = this.ofHost[host];
    if (d < 0) return;
    this.counts[d] += delta;
    this.total += delta;
  }

  /** The count of `host`'s domain; -1 when the host lacks the label. */
  at(host: number): number {
    const d = this.ofHost[host];
    return d < 0 ? -1 : this.counts[d];
  }
}

/** The affinity terms of one template: pods matching all of them, counted per term's domain. */
class Group {
  readonly terms: Counted[];

  constructor(terms: readonly PodAffinityTerm[], topology: Topology) {
    this.terms = terms.map((t) => new Counted(new Term(t), topology));
  }

  matchesAll(t: PodTemplate): boolean {
    return this.terms.every((c) => c.term.matches(t));
  }

  get total(): number { return this.terms.reduce((sum, c) => sum + c.total, 0); }
}

const keyOf = (x: unknown): string => JSON.stringify(x);

export class AffinityIndex {
  readonly #topology: Topology;
  readonly #placed = new Map<string, { readonly pod: Pod; readonly host: number }>();
  readonly #groups = new Map<string, Group>();
  readonly #antiTerms = new Map<string, Counted>();
  /** Anti-affinity terms of placed pods: how many holders per domain. */
  readonly #holders = new Map<string, Counted>();

  constructor(topology: Topology) {
    this.#topology = topology;
  }

  #group(terms: readonly PodAffinityTerm[]): Group {
    const key = keyOf(terms);
    let g = this.#groups.get(key);
    if (g === undefined) {
      g = new Group(terms, this.#topology);
      for (const { pod, host } of this.#placed.values()) if (g.matchesAll(pod.template)) for (const c of g.terms) c.add(host, 1);
      this.#groups.set(key, g);
    }
    return g;
  }

  #anti(term: PodAffinityTerm): Counted {
    const key = keyOf(term);
    let a = this.#antiTerms.get(key);
    if (a === undefined) {
      a = new Counted(new Term(term), this.#topology);
      for (const { pod, host } of this.#placed.values()) if (a.term.matches(pod.template)) a.add(host, 1);
      this.#antiTerms.set(key, a);
    }
    return a;
  }

  #count(pod: Pod, host: number, delta: number): void {
    const t = pod.template;
    for (const g of this.#groups.values()) if (g.matchesAll(t)) for (const c of g.terms) c.add(host, delta);
    for (const a of this.#antiTerms.values()) if (a.term.matches(t)) a.add(host, delta);
    for (const term of t.podAntiAffinity) {
      const key = keyOf(term);
      let h = this.#holders.get(key);
      if (h === undefined) this.#holders.set(key, (h = new Counted(new Term(term), this.#topology)));
      h.add(host, delta);
    }
  }

  /** Counts `pod`, now on `host`. */
  place(pod: Pod, host: number): void {
    this.#placed.set(pod.key, { pod, host });
    this.#count(pod, host, 1);
  }

  /** Forgets `pod` (no-op when it is not placed). */
  remove(pod: Pod): void {
    const p = this.#placed.get(pod.key);
    if (p === undefined) return;
    this.#placed.delete(pod.key);
    this.#count(pod, p.host, -1);
  }

  /** The check for `pod`, or null when no rule applies to it anywhere. */
  prepare(pod: Pod): PodAffinityCheck | null {
    const t = pod.template;
    const group = t.podAffinity.length > 0 ? this.#group(t.podAffinity) : null;
    const antis = t.podAntiAffinity.map((term) => this.#anti(term));
    const holders = [...this.#holders.values()].filter((h) => h.total > 0 && h.term.matches(t));
    if (group === null && antis.length === 0 && holders.length === 0) return null;
    const firstOfSeries = group !== null && group.total === 0 && group.matchesAll(t);
    return {
      check(host: number): AffinityVerdict {
        if (group !== null) {
          let exist = true;
          for (const c of group.terms) {
            const n = c.at(host);
            if (n < 0) return AffinityVerdict.Affinity;
            if (n === 0) exist = false;
          }
          if (!exist && !firstOfSeries) return AffinityVerdict.Affinity;
        }
        for (const a of antis) if (a.at(host) > 0) return AffinityVerdict.AntiAffinity;
        for (const h of holders) if (h.at(host) > 0) return AffinityVerdict.ExistingAntiAffinity;
        return AffinityVerdict.Ok;
      },
    };
  }
}
