/**
 * Screening end to end, through the built CLI and a running `modelseal serve` (issue 19 §1, §3):
 * a release that is clear; a list imported while the service runs, which re-screens the registered
 * recipients, reports the newly flagged, and denies the next release without a restart, the entry
 * naming the list snapshot and the best match; a list past its maximum age denying with its own
 * reason; a registration of a party written in Cyrillic refused with the match, and registered with
 * an override that the service's log records.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadReleaseIdentity } from '../../src/keystore/keystore.js';
import { verifyProof } from '../../src/log/checkpoint.js';
import { decodeEvent, type ReleaseEvent } from '../../src/log/events.js';
import { parseVerifierKey } from '../../src/log/note.js';
import { cli, serveCli, type ServedCli } from '../support/cli.js';
import { tempDir } from '../support/fixtures.js';
import { signedRequest } from '../support/release.js';
import { policyInForce, within } from '../support/wait.js';

const dir = tempDir('modelseal-cli-screening-');
const keys = join(dir, 'keys');
const data = join(dir, 'data');
const pkg = join(dir, 'm.mseal');
const ms = cli(keys, dir);
let served: ServedCli | undefined;

afterAll(() => served?.stop());

/** A signed release request for the package as acme-labs, for Germany: the answer and its logged entry. */
async function ask(url: string) {
  const { key } = await loadReleaseIdentity(join(dir, 'acme.identity'));
  const { body } = await signedRequest(pkg, 'acme-labs', key, (r) => (r.destination = 'DE'));
  const res = await fetch(`${url}/v1/release`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const answer = (await res.json()) as { decision: string; reason?: string; receipt: string };
  const logKey = parseVerifierKey(readFileSync(join(keys, 'log.vkey'), 'utf8'));
  return { answer, entry: decodeEvent(verifyProof(answer.receipt, undefined, logKey).entry) as ReleaseEvent };
}

const OWN_LIST = [
  'id,name,type,aliases,countries,dob,source',
  'kh-1,Kremlin Holdings LLC,company,Kremlin Holding,RU,,own',
  'al-1,ACME LABS,company,,DE,,own',
].join('\n');

describe('screening through the CLI and a running service', () => {
  it('screens every release against the lists in force, and registrations before they are written', async () => {
    expect(ms(['init', '--log-origin', 'screening.test/log']).code).toBe(0);
    const org = ['--data', data, '--country', 'DE', '--nationality', 'DE'];
    const issued = ms(['recipient', 'issue', 'acme-labs', '--org', 'Acme Labs GmbH', ...org, '-o', 'acme.identity']);
    expect(issued.code, issued.stderr).toBe(0);
    served = await serveCli(keys, dir, data, ['--geoip', 'none']);
    const { url } = served;
    const to = ['--to', `release:${url}#acme-labs`, '--license', 'EAR-S', '--no-license-check'];
    const sealed = ms(['--json', 'seal', resolve('samples/checkpoint'), ...to, '-o', pkg]);
    expect(sealed.code, sealed.stderr).toBe(0);
    const license = {
      id: 'EAR-S',
      holder: 'acme-labs',
      artifacts: [sealed.json().model.rootDigest as string],
      destinations: ['DE'],
      notBefore: '2020-01-01T00:00:00Z',
      notAfter: '2100-01-01T00:00:00Z',
      maxReleases: 20,
    };
    writeFileSync(join(data, 'policy', 'licenses.json'), JSON.stringify({ licenses: [license] }));
    await policyInForce(url, ms(['--json', 'policy', 'check', '--data', data]).json().hash);

    // No lists yet: clear against none, and the entry says so.
    const clear = await ask(url);
    expect(clear.answer.decision).toBe('allow');
    expect(clear.entry.screening).toEqual({ decision: 'clear', lists: [], stale: [], best: null });
    expect(clear.entry.nationalities).toEqual(['DE']);

    // A list naming the recipient's organisation, imported while the service runs.
    writeFileSync(join(dir, 'own.csv'), OWN_LIST);
    const imported = ms(['--json', 'lists', 'import', 'own.csv', '--data', data, '--source', 'own']);
    expect(imported.code, imported.stderr).toBe(0);
    const snapshot = `own@${imported.json().digest as string}`;
    expect(imported.json().flagged).toEqual([
      expect.objectContaining({
        recipient: 'acme-labs',
        decision: 'hit',
        best: expect.objectContaining({ entity: 'al-1' }),
      }),
    ]);
    const denied = await within(10_000, 'the service to screen against the imported list', async () => {
      const r = await ask(url);
      return r.answer.decision === 'deny' ? r : undefined;
    });
    expect(denied.answer.reason).toBe('screening-hit');
    expect(denied.entry).toMatchObject({
      reason: 'screening-hit',
      screening: { decision: 'hit', lists: [snapshot], stale: [], best: { entity: 'al-1', source: 'own' } },
    });

    // The same list, past its maximum age (imported long ago): denied for that reason of its own.
    const activePath = join(data, 'lists', 'active.json');
    const active = JSON.parse(readFileSync(activePath, 'utf8')) as { sources: Record<string, Record<string, unknown>> };
    writeFileSync(
      join(dir, 'other.csv'),
      'id,name,type,aliases,countries,dob,source\nx-1,Nobody Trading,company,,IR,,x\n',
    );
    expect(ms(['lists', 'import', 'other.csv', '--data', data, '--source', 'other']).code).toBe(0);
    const after = JSON.parse(readFileSync(activePath, 'utf8')) as typeof active;
    after.sources.own = { ...active.sources.own, refreshed: '2020-01-01T00:00:00.000Z' };
    writeFileSync(activePath, JSON.stringify(after));
    const stale = await within(10_000, 'the service to see the stale list', async () => {
      const r = await ask(url);
      return r.entry.screening?.stale.includes('own') ? r : undefined;
    });
    expect(stale.entry.policies).toEqual(expect.arrayContaining(['screening-list-stale']));

    // A registration written in Cyrillic that matches a listed company: refused, nothing written.
    const ru = ['--data', data, '--country', 'RU', '--nationality', 'RU', '-o', 'kh.identity'];
    const refused = ms(['--json', 'recipient', 'issue', 'kh', '--org', 'Кремлин Холдингс', ...ru]);
    expect(refused.code).toBe(17);
    expect(refused.json().error.code).toBe('SCREENING_HIT');
    expect(JSON.stringify(refused.json().error.details)).toContain('kh-1');
    expect(existsSync(join(data, 'recipients', 'kh.json'))).toBe(false);
    // Registered with an override, recorded in the service's log (the service holds the log).
    const why = ['--override-screening', 'licensed by BIS, case 123', '--decided-by', 'alice', '--log', url];
    const overridden = ms(['--json', 'recipient', 'issue', 'kh', '--org', 'Кремлин Холдингс', ...ru, ...why]);
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(existsSync(join(data, 'recipients', 'kh.json'))).toBe(true);
    const listed = ms(['--json', 'audit', 'list', '--log', url, '--type', 'screening-override']);
    expect(listed.code, listed.stderr).toBe(0);
    expect(JSON.stringify(listed.json())).toContain('licensed by BIS, case 123');
    expect(JSON.stringify(listed.json())).toContain('Кремлин Холдингс');
  });
});
