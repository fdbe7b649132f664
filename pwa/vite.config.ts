import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
import { VitePWA } from 'vite-plugin-pwa';
import { readFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

const THEME = '#0b57d0';

export default defineConfig({
  define: {
    __APP_VERSION__: JSON.stringify(version),
  },
  plugins: [
    preact(),
    VitePWA({
      strategies: 'injectManifest',
      srcDir: 'src',
      filename: 'sw.ts',
      // main.ts registers the service worker itself: the backend's CSP forbids the
      // inline registration script the plugin would otherwise inject.
      injectRegister: false,
      registerType: 'prompt',
      injectManifest: {
        // Everything the shell needs to start with no network (the plugin adds the manifest itself).
        globPatterns: ['**/*.{js,css,html,png,svg,ico}'],
      },
      // The glob already lists public/ (icons, favicons); don't list the manifest's icons twice.
      includeManifestIcons: false,
      manifest: {
        id: '/',
        name: 'FieldQ',
        short_name: 'FieldQ',
        description: 'FieldQ field service: jobs, parts and tools for technicians, online or offline.',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'any',
        theme_color: THEME,
        background_color: '#ffffff',
        lang: 'zh-CN',
        dir: 'ltr',
        categories: ['business', 'productivity'],
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png', purpose: 'any' },
          { src: '/icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      devOptions: { enabled: false },
    }),
  ],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  server: {
    proxy: {
      '/api': { target: 'http://127.0.0.1:8000', changeOrigin: false },
    },
  },
});
