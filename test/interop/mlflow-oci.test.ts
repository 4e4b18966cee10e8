/**
 * `mlflow register` of an OCI reference against a real MLflow tracking server: the version's source
 * is the reference resolved to its digest and the tags are what the registry's manifest says.
 * The OCI client (src/registry/oci) is replaced here by a stand-in that answers for one reference,
 * so this checks what register does with `ociPackageInfo`'s answer; the OCI tests check the answer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { RegistryPackageInfo } from '../../src/registry/oci/index.js';
import { tempDir } from '../support/fixtures.js';
import { startMlflow, type Mlflow } from '../support/mlflow.js';

const REF = 'oci://127.0.0.1:5000/models/demo:v1';
const INFO: RegistryPackageInfo = {
  reference: `oci://127.0.0.1:5000/models/demo@sha256:${'ab'.repeat(32)}`,
  packageDigest: `sha256:${'cd'.repeat(32)}`,
  modelDigest: `sha256:${'ef'.repeat(32)}`,
  classification: '4E091',
  releaseUrl: 'https://release.example:7411',
  publisher: `sha256:${'01'.repeat(32)}`,
};
const asked: string[] = [];
vi.mock('../../src/registry/oci/index.js', () => ({
  ociPackageInfo: (ref: string) => {
    asked.push(ref);
    return Promise.resolve(INFO);
  },
}));
const { registerInMlflow } = await import('../../src/registry/mlflow/index.js');

let mlflow: Mlflow;
beforeAll(async () => {
  mlflow = await startMlflow(tempDir('modelseal-mlflow-oci-'));
}, 180_000);
afterAll(() => mlflow.stop());

describe('mlflow register oci://…', () => {
  it('registers the digest reference as the source, with the tags from the manifest', async () => {
    const r = await registerInMlflow({ trackingUri: mlflow.url, name: 'demo-oci', target: REF, logIndexes: [4] });
    expect(asked).toEqual([REF]);
    expect(r).toMatchObject({ version: '1', source: INFO.reference, runId: null, alias: 'sealed' });
    const mv = (await mlflow.get('model-versions/get', { name: 'demo-oci', version: '1' })).model_version;
    expect(mv.source).toBe(INFO.reference);
    const tags = Object.fromEntries((mv.tags as { key: string; value: string }[]).map((t) => [t.key, t.value]));
    expect(tags).toEqual({
      'modelseal.package_digest': INFO.packageDigest,
      'modelseal.model_digest': INFO.modelDigest,
      'modelseal.classification': '4E091',
      'modelseal.release_url': INFO.releaseUrl,
      'modelseal.log_index': '4',
    });
  });

  it('refuses --log for a reference: the package id is in the package, not the manifest', async () => {
    await expect(
      registerInMlflow({ trackingUri: mlflow.url, name: 'demo-oci', target: REF, log: '/nonexistent' }),
    ).rejects.toThrow(/for an OCI reference give --log-index/);
  });
});
