// Every benchmark case, in the order the table prints them.
import type { BenchCase } from "../case.js";
import { bitmapCases } from "./bitmaps.js";
import { checkpointCases } from "./checkpoint.js";
import { dirtyLogCases } from "./dirty-log.js";
import { hostCases } from "./host.js";
import { pageCases } from "./pages.js";
import { xbzrleCases } from "./xbzrle.js";

export const allCases: readonly BenchCase[] = [...pageCases, ...xbzrleCases, ...hostCases, ...dirtyLogCases, ...bitmapCases, ...checkpointCases];
