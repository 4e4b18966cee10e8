/** The ocicrypt keyprovider JSON (src/registry/keyprovider): requests parsed strictly, errors naming the field. */
import { describe, expect, it } from 'vitest';
import {
  answerKeyProvider,
  isModelsealError,
  LAYER_ANNOTATION_TYPE,
  parseKeyProviderRequest,
  parseLayerAnnotation,
  parseLayerKeyParams,
} from '../../src/index.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const bytes = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return isModelsealError(e) ? `${e.code}: ${e.message}` : `not a ModelsealError: ${String(e)}`;
  }
  return 'no error';
}

describe('parseKeyProviderRequest', () => {
  it('reads a keywrap request as ocicrypt marshals it: the options and only our provider parameters', () => {
    const r = parseKeyProviderRequest(
      bytes({
        op: 'keywrap',
        keywrapparams: {
          ec: {
            Parameters: {
              modelseal: [b64('release:http://127.0.0.1:1#acme'), b64('license=EAR-1')],
              other: [b64('x')],
            },
            DecryptConfig: { Parameters: { modelseal: [b64('destination=DE')] } },
          },
          optsdata: b64('{"symkey":"..."}'),
        },
      }),
      'modelseal',
    );
    expect(r).toEqual({
      op: 'keywrap',
      optsdata: new Uint8Array(Buffer.from('{"symkey":"..."}')),
      params: ['release:http://127.0.0.1:1#acme', 'license=EAR-1'],
    });
  });

  it('reads a keyunwrap request under the configured provider name, with null Parameters as none', () => {
    const annotation = b64('{"v":1}');
    const req = (dc: unknown) => bytes({ op: 'keyunwrap', keyunwrapparams: { dc, annotation } });
    expect(parseKeyProviderRequest(req({ Parameters: { ms2: [b64('destination=FR')] } }), 'ms2')).toEqual({
      op: 'keyunwrap',
      annotation: new Uint8Array(Buffer.from('{"v":1}')),
      params: ['destination=FR'],
    });
    expect(parseKeyProviderRequest(req({ Parameters: null }), 'modelseal').params).toEqual([]);
    expect(parseKeyProviderRequest(req(null), 'modelseal').params).toEqual([]);
  });

  it('refuses what is not a request, naming the field', () => {
    const cases: [string, RegExp][] = [
      ['', /stdin is not JSON/],
      ['[]', /expected a JSON object/],
      ['{"op":"wrap"}', /"op" must be "keywrap" or "keyunwrap", got "wrap"/],
      ['{"op":"keywrap"}', /"keywrapparams" is missing/],
      ['{"op":"keywrap","keywrapparams":{"optsdata":12}}', /optsdata must be a base64 string/],
      ['{"op":"keywrap","keywrapparams":{"optsdata":"YWJ"}}', /optsdata is not standard base64/],
      ['{"op":"keywrap","keywrapparams":{"optsdata":""}}', /optsdata is empty/],
      ['{"op":"keywrap","keywrapparams":{"optsdata":"YQ==","ec":{"Parameters":[]}}}', /ec.Parameters must be/],
      [
        `{"op":"keywrap","keywrapparams":{"optsdata":"YQ==","ec":{"Parameters":{"modelseal":"${b64('x')}"}}}}`,
        /Parameters.modelseal must be a list/,
      ],
      [
        `{"op":"keywrap","keywrapparams":{"optsdata":"YQ==","ec":{"Parameters":{"modelseal":["${b64('a\nb')}"]}}}}`,
        /modelseal\[0\] is not printable text/,
      ],
      ['{"op":"keyunwrap","keyunwrapparams":{"annotation":"-_-_"}}', /annotation is not standard base64/],
    ];
    for (const [input, message] of cases) {
      const got = code(() => parseKeyProviderRequest(bytes(input), 'modelseal'));
      expect(got, input).toMatch(/^KEYPROVIDER_REQUEST: keyprovider request: /);
      expect(got, input).toMatch(message);
    }
    expect(code(() => parseKeyProviderRequest(new Uint8Array((4 << 20) + 1), 'modelseal'))).toMatch(/larger than/);
  });
});

describe('parseLayerKeyParams', () => {
  it('reads recipients, license, model and destination, and ignores the bare "Enabled"', () => {
    const model = `sha256:${'ab'.repeat(32)}`;
    expect(
      parseLayerKeyParams([
        'Enabled',
        'release:https://r.example#a',
        'release:https://r.example#b',
        'license=EAR-1',
        `model=${model}`,
        'destination=DE',
      ]),
    ).toEqual({
      recipients: ['release:https://r.example#a', 'release:https://r.example#b'],
      license: 'EAR-1',
      model,
      destination: 'DE',
    });
  });

  it('refuses unknown parameters and two different values of one', () => {
    expect(code(() => parseLayerKeyParams(['pubkey=abc']))).toMatch(
      /KEYPROVIDER_REQUEST.*unknown parameter "pubkey=abc"/,
    );
    expect(code(() => parseLayerKeyParams(['destination=de']))).toMatch(/unknown parameter/);
    expect(code(() => parseLayerKeyParams(['model=sha256:12']))).toMatch(/unknown parameter/);
    expect(code(() => parseLayerKeyParams(['license=A', 'license=B']))).toMatch(/two values for license: A and B/);
    expect(parseLayerKeyParams(['license=A', 'license=A']).license).toBe('A');
  });
});

describe('parseLayerAnnotation', () => {
  const good = {
    v: 1,
    type: LAYER_ANNOTATION_TYPE,
    package: '00'.repeat(32),
    artifact: `sha256:${'11'.repeat(32)}`,
    stanzas: [
      {
        type: 'release',
        recipient: 'acme',
        license: 'EAR-1',
        policy: 'none',
        args: ['u', 'x25519', 'k'],
        body: 'AA==',
      },
    ],
    options: 'AAAA',
  };

  it('accepts what keywrap writes and refuses anything else with LAYER_ANNOTATION_INVALID', () => {
    expect(parseLayerAnnotation(bytes(good))).toEqual(good);
    const cases: [unknown, RegExp][] = [
      ['{', /is not JSON/],
      [42, /has no "type"/],
      [{ ...good, type: 'other' }, /has no "type"/],
      [{ ...good, v: 2 }, /has version 2/],
      [{ ...good, package: 'xx' }, /has no package id/],
      [{ ...good, artifact: 'sha256:12' }, /has no artifact digest/],
      [{ ...good, options: 'not base64!' }, /has no sealed options/],
      [{ ...good, stanzas: [] }, /has no well-formed release stanza/],
      [{ ...good, stanzas: [{ ...good.stanzas[0], type: 'x25519' }] }, /has no well-formed release stanza/],
      [{ ...good, stanzas: [{ ...good.stanzas[0], model: 'sha256:1' }] }, /has no well-formed release stanza/],
    ];
    for (const [input, message] of cases) {
      const got = code(() => parseLayerAnnotation(bytes(input)));
      expect(got, JSON.stringify(input)).toMatch(/^LAYER_ANNOTATION_INVALID: /);
      expect(got, JSON.stringify(input)).toMatch(message);
    }
  });
});

describe('answerKeyProvider', () => {
  const wrap = (params: string[]) =>
    bytes({
      op: 'keywrap',
      keywrapparams: { ec: { Parameters: { modelseal: params.map(b64) } }, optsdata: b64('{}') },
    });
  const unwrap = (params: string[]) =>
    bytes({
      op: 'keyunwrap',
      keyunwrapparams: { dc: { Parameters: { modelseal: params.map(b64) } }, annotation: b64('{}') },
    });

  it('says what keywrap lacks before it asks anyone', async () => {
    await expect(answerKeyProvider(wrap(['license=EAR-1']))).rejects.toThrow(/no release:<service URL>#<recipient>/);
    await expect(answerKeyProvider(wrap(['release:http://127.0.0.1:9#a']))).rejects.toThrow(/no license=<id>/);
  });

  it('says what keyunwrap lacks, then checks the annotation, before it asks anyone', async () => {
    await expect(answerKeyProvider(unwrap([]))).rejects.toThrow(/no destination=<CC>/);
    await expect(answerKeyProvider(unwrap(['destination=DE']))).rejects.toThrow(/no recipient identity/);
    const loaders = {
      identity: () => Promise.reject(new Error('must not be loaded')),
      logKey: () => Promise.reject(new Error('must not be loaded')),
    };
    await expect(answerKeyProvider(unwrap([]), { ...loaders, defaults: ['destination=DE'] })).rejects.toThrow(
      /LAYER_ANNOTATION_INVALID|has no "type"/,
    );
  });
});
