import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: run test files two at a time; each package test also starts crypto workers.
    maxWorkers: 2,
  },
});
