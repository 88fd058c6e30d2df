// Every benchmark case, in the order the table prints them.
import type { BenchCase, ScenarioBench } from "../case.js";
import { bitmapCases } from "./bitmaps.js";
import { checkpointCases } from "./checkpoint.js";
import { clusterScenarios } from "./cluster.js";
import { diskScenarios } from "./disk.js";
import { guestScenarios } from "./guest.js";
import { dirtyLogCases } from "./dirty-log.js";
import { hostCases } from "./host.js";
import { lockstepCases } from "./lockstep.js";
import { overcommitCases, overcommitScenarios } from "./overcommit.js";
import { pageCases } from "./pages.js";
import { nvmCases } from "./nvm.js";
import { rasCases } from "./ras.js";
import { remoteCases } from "./remote.js";
import { snapshotCases } from "./snapshot.js";
import { swapCases } from "./swap.js";
import { xbzrleCases } from "./xbzrle.js";

export const allCases: readonly BenchCase[] = [...pageCases, ...xbzrleCases, ...hostCases, ...dirtyLogCases, ...bitmapCases, ...rasCases, ...snapshotCases, ...checkpointCases, ...lockstepCases, ...swapCases, ...remoteCases, ...nvmCases, ...overcommitCases];

/** Whole scenarios timed by wall clock (no reference, no gate), after the migration benches. */
export const scenarioCases: readonly ScenarioBench[] = [...guestScenarios, ...clusterScenarios, ...diskScenarios, ...overcommitScenarios];
