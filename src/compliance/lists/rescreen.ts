/**
 * After an import: which registered parties the new lists flag (review or hit) that the lists
 * before it cleared. docs/SCREENING.md, "Lists and snapshots".
 */
import type { RecipientScreening, ScreenedParty } from '../types.js';
import type { ActiveState } from './active-file.js';
import { ListScreening } from './screening.js';

/** A party an import newly flagged. */
export interface NewlyFlagged<P extends ScreenedParty> {
  party: P;
  decision: 'review' | 'hit';
  best: RecipientScreening['best'];
}

/** The parties that `current` flags and `previous` cleared. */
export async function newlyFlagged<P extends ScreenedParty>(
  data: string,
  previous: ActiveState,
  current: ActiveState,
  parties: readonly P[],
): Promise<NewlyFlagged<P>[]> {
  if (!parties.length) return [];
  // One index at a time: the current lists' is dropped before the previous lists' is built.
  const flagged = await flaggedBy(data, current, parties);
  if (!flagged.length) return [];
  const before = await ListScreening.load(data, previous);
  return flagged
    .filter((f) => before.screenParty(f.party).decision === 'clear')
    .map((f) => ({ party: f.party, decision: f.decision as 'review' | 'hit', best: f.best }));
}

/** The parties the lists of `state` flag, with their decisions and best matches. */
async function flaggedBy<P extends ScreenedParty>(data: string, state: ActiveState, parties: readonly P[]) {
  const screening = await ListScreening.load(data, state);
  return parties.map((party) => ({ party, ...screening.screenParty(party) })).filter((f) => f.decision !== 'clear');
}
