// Warnings about what the model ignores (a field it does not simulate, a
// resource other than memory and CPU, a preferred affinity term...), grouped
// by kind and field so 1,000 replicas of one template give one line:
//
//   ignored spec.tolerations of pod (not modelled): 1000 objects, first pod default/web-0 (web.yaml:21)

interface Group {
  readonly what: string;
  count: number;
  readonly first: string;
}

export class Warnings {
  readonly #groups = new Map<string, Group>();

  /** Counts one occurrence of `what` (the grouping key and text), first seen at `example`. */
  add(what: string, example: string): void {
    const g = this.#groups.get(what);
    if (g) g.count++;
    else this.#groups.set(what, { what, count: 1, first: example });
  }

  /** Adds every group of `other`, `times` times (a template's warnings, once per replica). */
  merge(other: Warnings, times = 1): void {
    for (const g of other.#groups.values()) {
      const mine = this.#groups.get(g.what);
      if (mine) mine.count += g.count * times;
      else this.#groups.set(g.what, { what: g.what, count: g.count * times, first: g.first });
    }
  }

  /** One line per group, in the order first seen. */
  lines(): string[] {
    return [...this.#groups.values()].map((g) => `${g.what}: ${g.count} ${g.count === 1 ? "object" : "objects"}, first ${g.first}`);
  }
}
