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

/** The parties that `current` flags and `previous` cleared (snapshots loaded once, shared by both). */
export async function newlyFlagged<P extends ScreenedParty>(
  data: string,
  previous: ActiveState,
  current: ActiveState,
  parties: readonly P[],
): Promise<NewlyFlagged<P>[]> {
  if (!parties.length) return [];
  const after = await ListScreening.load(data, current);
  const flagged = parties
    .map((party) => ({ party, ...after.screenParty(party) }))
    .filter((f) => f.decision !== 'clear');
  if (!flagged.length) return [];
  const before = await ListScreening.load(data, previous, after);
  return flagged
    .filter((f) => before.screenParty(f.party).decision === 'clear')
    .map((f) => ({ party: f.party, decision: f.decision as 'review' | 'hit', best: f.best }));
}
