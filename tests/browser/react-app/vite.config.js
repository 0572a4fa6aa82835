import { defineConfig } from 'vite';

// @presenced/client is linked from clients/js; its `react` import must
// resolve to this app's copy, or hooks would see two Reacts.
export default defineConfig({
  resolve: { dedupe: ['react', 'react-dom'] },
  build: { sourcemap: true, minify: false },
  logLevel: 'warn',
});
