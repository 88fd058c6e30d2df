// Proportional-share memory allocation with the idle-memory tax (Waldspurger,
// "Memory Resource Management in VMware ESX Server", OSDI 2002, section 5).
//
//   ρ = S / (P · (f + k · (1 − f))),   k = 1 / (1 − τ)
//
// S shares, P pages allocated, f the active fraction, τ the tax rate. The
// scheduler reclaims from the VM with the lowest ρ (min-funding revocation)
// until what is allocated fits. Page j of a VM is "worth" S / (j · c), with
// c = f + k (1 − f): revoking from the lowest ρ always removes the least
// valuable page held, so the allocation it ends with is the one that keeps
// the `available` most valuable pages (each VM's first `reservation` pages
// always kept, none past its limit). allocate() computes that allocation in
// closed form: a threshold λ found by bisection (every page worth more than
// λ is kept), then the few pages at λ handed out one by one, most valuable
// first, the lower VM index first on a tie, exactly as revocation (which
// takes from the higher index first on a tie) leaves them.
import { ErrorCode, HypermemError } from "../errors.js";

/** One VM's inputs to allocate(), in pages. */
export interface AllocationInput {
  readonly shares: number;
  /** The active fraction f, 0..1 (sampled, or the true one). */
  readonly activeFraction: number;
  /** Pages always kept: the reservation (≤ maxPages). */
  readonly minPages: number;
  /** Pages never exceeded: min(limit, guest size). */
  readonly maxPages: number;
}

/** c = f + k (1 − f), k = 1 / (1 − τ): what an allocated page costs in shares, idle pages taxed. */
export function idleCost(activeFraction: number, idleTax: number): number {
  const k = 1 / (1 - idleTax);
  return activeFraction + k * (1 - activeFraction);
}

/** ρ = S / (P · c): shares per allocated page, idle pages taxed. Infinity for P = 0. */
export function sharesPerPage(shares: number, pages: number, activeFraction: number, idleTax: number): number {
  return shares / (pages * idleCost(activeFraction, idleTax));
}

/** Pages j in (min, max] worth more than λ: j < S / (λ c). */
function pagesAbove(v: AllocationInput, cost: number, lambda: number): number {
  const x = v.shares / (lambda * cost);
  let p = Math.min(v.maxPages, Math.max(v.minPages, Math.ceil(x) - 1));
  while (p > v.minPages && !(v.shares / (p * cost) > lambda)) p--;
  while (p < v.maxPages && v.shares / ((p + 1) * cost) > lambda) p++;
  return p;
}

/**
 * The allocation, in pages per VM, of `availablePages` among `vms` by
 * proportional share with the idle-memory tax at rate `idleTax` (0 ≤ τ < 1).
 * Every VM gets at least its minPages and at most its maxPages. Throws
 * ERR_ADMISSION when the reservations alone exceed `availablePages`.
 */
export function allocate(vms: readonly AllocationInput[], availablePages: number, idleTax: number): number[] {
  const reserved = vms.reduce((sum, v) => sum + v.minPages, 0);
  if (reserved > availablePages) {
    throw new HypermemError(ErrorCode.Admission, `the reservations add up to ${reserved} pages, more than the ${availablePages} pages the host can give its VMs`, { reservedPages: reserved, availablePages });
  }
  if (vms.reduce((sum, v) => sum + v.maxPages, 0) <= availablePages) return vms.map((v) => v.maxPages);
  const costs = vms.map((v) => idleCost(v.activeFraction, idleTax));
  const total = (lambda: number): number => vms.reduce((sum, v, i) => sum + pagesAbove(v, costs[i], lambda), 0);
  let low = 0;
  let high = Math.max(...vms.map((v, i) => (v.minPages < v.maxPages ? v.shares / ((v.minPages + 1) * costs[i]) : 0)));
  for (let i = 0; i < 200 && low < high; i++) {
    const mid = (low + high) / 2;
    if (mid === low || mid === high) break;
    if (total(mid) <= availablePages) high = mid;
    else low = mid;
  }
  const pages = vms.map((v, i) => pagesAbove(v, costs[i], high));
  for (let left = availablePages - pages.reduce((a, b) => a + b, 0); left > 0; left--) {
    let best = -1;
    let bestValue = -1;
    for (let i = 0; i < vms.length; i++) {
      if (pages[i] >= vms[i].maxPages) continue;
      const value = vms[i].shares / ((pages[i] + 1) * costs[i]);
      if (value > bestValue) {
        best = i;
        bestValue = value;
      }
    }
    pages[best]++;
  }
  return pages;
}
