// A third-party key provider as a plugin module (MODELSEAL_PROVIDERS=test/support/plugin-provider.mjs):
// it registers the scheme "fixture" through the library's public API. TEST FIXTURE: the key below
// is a fixed, public test value, not a secret.
import { LocalKey, registerProvider } from '../../dist/src/index.js';

const key = new LocalKey('00112233445566ff', new Uint8Array(32).fill(42));
registerProvider({
  scheme: 'fixture',
  summary: 'a test plugin with one fixed key',
  example: 'fixture',
  async recipient() {
    return key;
  },
  async identities() {
    return [key];
  },
  async status() {
    return {
      provider: 'fixture',
      summary: 'a test plugin with one fixed key',
      configured: true,
      reachable: true,
      detail: 'in-process',
      config: {},
    };
  },
});
