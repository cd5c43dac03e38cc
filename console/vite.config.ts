import { defineConfig } from 'vite';

/**
 * The console is built into console/dist by `npm install` (the package's prepare script) and
 * served by the gateway at /console/. Preact's JSX through Vite's own transform (Oxc): no
 * Babel preset needed for a handful of components.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/console/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { alias: { react: 'preact/compat', 'react-dom': 'preact/compat' } },
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 400 },
});
