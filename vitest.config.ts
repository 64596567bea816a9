import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Test files start servers and Lambda containers (child processes): isolate them in forks.
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more parallel files only make the emulator's containers compete.
    maxWorkers: 2,
    // The default Powertools logger would print every lifecycle record of the in-process tests.
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  },
});
